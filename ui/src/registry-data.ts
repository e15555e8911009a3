/** Whole lists from the registry's paged RPCs (the console shows registries of hundreds of versions, not millions). */
import type { AuditEntry, ModelVersion, RegisteredModel } from '../../gateway/client/registry-messages.js';
import { RegistryService, init } from './api.js';

/** At most this many pages of 1,000 are read for one list. */
const MAX_PAGES = 20;

async function allPages<T>(
  page: (token: string) => Promise<{ items: T[] | undefined; next: string | undefined }>,
  pages = MAX_PAGES,
): Promise<T[]> {
  const out: T[] = [];
  let token = '';
  for (let i = 0; i < pages; i++) {
    const { items, next } = await page(token);
    out.push(...(items ?? []));
    if (next === undefined || next === '') break;
    token = next;
  }
  return out;
}

export const allModels = (): Promise<RegisteredModel[]> =>
  allPages(async (pageToken) => {
    const r = await RegistryService.ListRegisteredModels({ pageSize: 1000, pageToken }, init());
    return { items: r.models, next: r.nextPageToken };
  });

export const allVersions = (modelName: string): Promise<ModelVersion[]> =>
  allPages(async (pageToken) => {
    const r = await RegistryService.ListVersions({ modelName, pageSize: 1000, pageToken }, init());
    return { items: r.versions, next: r.nextPageToken };
  });

/** The newest audit entries (of one model, or all when empty), newest first: at most MAX_PAGES pages. */
export const newestAudit = (modelName: string, pages = MAX_PAGES): Promise<AuditEntry[]> =>
  allPages(async (pageToken) => {
    const r = await RegistryService.GetAuditLog({ modelName, pageSize: 1000, pageToken, newestFirst: true }, init());
    return { items: r.entries, next: r.nextPageToken };
  }, pages);

/** The most entries newestAudit reads. */
export const AUDIT_LIMIT = MAX_PAGES * 1000;

/** An audit entry's detail (JSON text) as an object. */
export function detailOf(entry: AuditEntry): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(entry.detail ?? '{}');
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
