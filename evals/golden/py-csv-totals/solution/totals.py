import csv
import io


def _number(cell):
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def column_totals(text):
    """The sum of each numeric column of the CSV text (with a header)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    totals = {}
    for i, name in enumerate(header):
        total, numeric = 0, True
        for row in body:
            cell = row[i].strip() if i < len(row) else ""
            if not cell:
                continue
            try:
                total += _number(cell)
            except ValueError:
                numeric = False
                break
        if numeric:
            totals[name] = total
    return totals
