// The audit log as the Audit page reads it (GET /api/v1/audit, admin only).
import { getJson } from "./api";

export interface AuditRecord {
  seq: number;
  ts: number;
  time: string;
  action: string;
  subject: string;
  role: string;
  credential_id: string;
  target: string;
  result: string;
  source: string;
  request_id: string;
  detail: Record<string, unknown>;
}

export interface ChainStatus {
  ok: boolean;
  records: number;
  first_seq: number | null;
  last_seq: number | null;
  problems: string[];
}

export interface AuditAnswer {
  chain: ChainStatus;
  records: AuditRecord[];
}

export interface AuditFilter {
  action?: string;
  subject?: string;
  limit?: number;
}

export const audit = (filter: AuditFilter) => getJson<AuditAnswer>("/api/v1/audit", { ...filter });

export interface WhoAmI {
  kind: string;
  role: string;
  id: string;
  name: string;
}

export const whoami = () => getJson<WhoAmI>("/api/v1/whoami");
