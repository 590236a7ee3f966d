/**
 * Repository webhooks: after every tag push, each of the repository's hooks gets a POST in Docker
 * Hub's payload shape; failures are retried with exponential back-off and every attempt lands in
 * the delivery log shown on the repository's settings page.
 */
import type { HubStore, Repo, Webhook } from './db.js';

export interface WebhookOptions {
  /** Attempts per delivery (default 5). */
  attempts?: number;
  /** First retry delay; doubles each time (default 2 s). */
  baseDelayMs?: number;
  timeoutMs?: number;
  /** The Hub's public base URL, for repo_url. */
  baseUrl: () => string;
  log?: (m: string) => void;
}

export function pushPayload(repo: Repo, tag: string, pusher: string, baseUrl: string): unknown {
  const [namespace, ...rest] = repo.name.split('/');
  return {
    callback_url: `${baseUrl}/r/${repo.name}`,
    push_data: { pushed_at: Math.floor(Date.now() / 1000), pusher, tag, images: [] },
    repository: {
      comment_count: 0, date_created: Math.floor(repo.created / 1000), description: '', dockerfile: '',
      full_description: repo.description, is_official: false, is_private: repo.visibility === 'private', is_trusted: false,
      name: rest.join('/'), namespace, owner: namespace, repo_name: repo.name, repo_url: `${baseUrl}/r/${repo.name}`,
      star_count: repo.starCount, status: 'Active',
    },
  };
}

export class WebhookDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  constructor(readonly store: HubStore, readonly opts: WebhookOptions) {}

  pushed(repoName: string, tag: string, pusher: string): void {
    const repo = this.store.repo(repoName);
    if (!repo) return;
    const hooks = this.store.webhooks(repoName);
    if (hooks.length === 0) return;
    const body = JSON.stringify(pushPayload(repo, tag, pusher, this.opts.baseUrl()));
    for (const h of hooks) void this.deliver(h, body, 1);
  }

  private async deliver(hook: Webhook, body: string, attempt: number): Promise<void> {
    if (this.closed) return;
    const max = this.opts.attempts ?? 5;
    let code: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(hook.url, {
        method: 'POST', body, redirect: 'manual',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'berth-hub-webhook/1' },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      code = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    const retry = error !== null && attempt < max;
    try {
      this.store.logDelivery({ hookId: hook.id, repo: hook.repo, attempt, status: error === null ? 'ok' : retry ? 'retrying' : 'failed', responseCode: code, error });
    } catch { /* the hook or database went away */ }
    if (!retry || this.closed) return;
    const delay = (this.opts.baseDelayMs ?? 2000) * 2 ** (attempt - 1);
    const t = setTimeout(() => { this.timers.delete(t); void this.deliver(hook, body, attempt + 1); }, delay);
    t.unref();
    this.timers.add(t);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
