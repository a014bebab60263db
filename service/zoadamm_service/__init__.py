"""The zoadamm HTTP service: routes (api), sessions and their cache (domain), storage (store)."""
