def _money(cents):
    return str(cents / 100)


def report(store):
    """One line per item, then the total value."""
    lines = []
    for name in store.names():
        lines.append("%s x%d @ %s" % (name, store.quantity(name),
                                      _money(store.unit_price_cents(name))))
    lines.append("total %s" % _money(store.value_cents()))
    return "\n".join(lines)
