-- radgate schema v4: a token's own Mikrotik-Rate-Limit ("2M/5M"), sent in its
-- Access-Accept (and as WISPr-Bandwidth-Max-Up/Down); overrides [reply] and
-- [[business]] rate_limit.
ALTER TABLE access_tokens ADD COLUMN rate_limit TEXT;
