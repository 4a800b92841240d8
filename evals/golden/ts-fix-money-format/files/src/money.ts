export function formatCents(cents: number, currency: string): string {
  return `${currency} ${Math.floor(cents / 100)}.${cents % 100}`;
}
