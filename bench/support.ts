/** What several benchmarks share: a scratch database on the user's PostgreSQL server, a statement on a connection of its own, medians, and a process's CPU from /proc. */
import { readFileSync } from 'node:fs';
import pg from 'pg';

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Creates database `name` on the server of `adminUrl` (a role that may create databases) and
 * returns its URL; `drop` removes it, closing whatever is still connected to it.
 */
export async function scratchDatabase(adminUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  await runSql(adminUrl, `create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => runSql(adminUrl, `drop database if exists "${name}" with (force)`) };
}

/** Runs `sql` on a connection of its own to `url`, closed after it. */
export async function runSql(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A process's name and CPU so far (user + system, in clock ticks of 10 ms) from /proc/PID/stat. */
export function processTicks(pid: string | number): { comm: string; ticks: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(fields[11]) + Number(fields[12]) };
}
