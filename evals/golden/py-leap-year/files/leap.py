def is_leap(year):
    """True when year is a leap year of the Gregorian calendar."""
    raise NotImplementedError("is_leap")
