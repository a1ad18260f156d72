-- metrics.unit is the metric's measure (亿元, 个, %); "unit" elsewhere is a reporting unit
-- (metric_allocations.unit, progress_*.unit, submissions.unit). Renamed in place: data, the
-- primary key and the sequences stay as they are.
ALTER TABLE metrics RENAME COLUMN unit TO measure;
