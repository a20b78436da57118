"""Developer tooling: the process list, the local launcher, the throwaway PostgreSQL."""
