-- DESIGN §5: a unit with fewer than three judged items (evaluation.yaml rank_min_judged) is
-- listed but not ranked, and ranks count within two tables (towns, zones, streets;
-- departments, companies): eval_units.rank is NULL for a unit not ranked.
ALTER TABLE eval_units ALTER COLUMN rank DROP NOT NULL;
