/**
 * berth Hub: accounts, organisations, public and private repositories, search, webhooks and a
 * web interface over berth's registry. Public surface for bin/berth-hub and tests.
 */
export { startHub, searchResults, SERVICE, type HubOptions, type RunningHub, type HubContext } from './server.js';
export { HubStore, validNamespaceName, type User, type AccessToken, type Repo, type Role, type TokenScope, type Visibility, type Webhook, type Delivery } from './db.js';
export { allowedActions, canSee, grant, roleOn, HubAuthorizer, CredentialChecker, LoginLimiter, SCOPE_ACTIONS, type Action } from './access.js';
export { hashPassword, verifyPassword } from './passwords.js';
export { renderMarkdown, escapeHtml, summary } from './markdown.js';
export { pushPayload, WebhookDispatcher } from './webhooks.js';
export { main } from './main.js';
