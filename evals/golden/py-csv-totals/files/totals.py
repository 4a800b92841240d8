def column_totals(text):
    """The sum of each numeric column of the CSV text (with a header)."""
    raise NotImplementedError("column_totals")
