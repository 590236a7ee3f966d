/** The docker compose version berth compose behaves like (what tools checking `docker compose version` see). */
export const COMPOSE_COMPAT_VERSION = '2.32.0';
/** berth compose's own version. */
export const BERTH_COMPOSE_VERSION = '0.1.0';
