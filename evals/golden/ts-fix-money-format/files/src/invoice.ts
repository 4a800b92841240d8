import { formatCents } from "./money";

export interface Line {
  label: string;
  cents: number;
}

export function invoiceText(lines: Line[], currency: string): string {
  const total = lines.reduce((sum, l) => sum + l.cents, 0);
  return lines
    .map((l) => `${l.label}: ${formatCents(l.cents, currency)}`)
    .concat([`total: ${formatCents(total, currency)}`])
    .join("\n");
}
