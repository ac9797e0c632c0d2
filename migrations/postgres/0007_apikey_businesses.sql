-- radgate on PostgreSQL, schema v7 (SQLite v14): API keys limited to some
-- businesses (SPEC §7, "Tenants"), like an operator's: comma-separated
-- BusinessIds; empty: all (every key made before this version).
ALTER TABLE api_keys ADD COLUMN businesses TEXT NOT NULL DEFAULT '';
