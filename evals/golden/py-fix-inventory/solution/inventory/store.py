class OutOfStock(Exception):
    """Raised when more is removed than is in stock."""


class Store:
    def __init__(self):
        self._items = {}  # name -> [quantity, unit price in cents]

    def add(self, name, quantity, unit_price_cents):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        entry = self._items.setdefault(name, [0, unit_price_cents])
        entry[0] += quantity
        entry[1] = unit_price_cents

    def remove(self, name, quantity):
        entry = self._items.get(name)
        if entry is None:
            raise KeyError(name)
        if quantity > entry[0]:
            raise OutOfStock("%s: %d in stock, %d asked" % (name, entry[0], quantity))
        entry[0] -= quantity

    def quantity(self, name):
        return self._items.get(name, [0, 0])[0]

    def names(self):
        return sorted(self._items)

    def unit_price_cents(self, name):
        return self._items[name][1]

    def value_cents(self):
        return sum(q * p for q, p in self._items.values())
