import type { IssueStatus } from "../api/types";

export function StatusBadge({ status }: { status: IssueStatus }) {
  return <span className={`badge status-${status.toLowerCase()}`} data-testid="status">{status.toLowerCase()}</span>;
}

export function LevelBadge({ level }: { level: string }) {
  return <span className={`level level-${level}`} title={level} aria-label={`level ${level}`} />;
}
