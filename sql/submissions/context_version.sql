-- What the checks' context is loaded from (the tasks, their metrics and units, the allocations,
-- the submissions and their figures), summed up in one row: the same row, the same context.
SELECT
    (SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM tasks t) AS tasks,
    (SELECT count(*) || ':' || coalesce(sum(hash(m)), 0) FROM metrics m) AS metrics,
    (SELECT count(*) || ':' || coalesce(sum(hash(u)), 0) FROM units u) AS units,
    (SELECT count(*) || ':' || coalesce(sum(hash(a)), 0) FROM metric_allocations a) AS allocations,
    (SELECT count(*) || ':' || coalesce(sum(hash(submission_id, sha256, unit, period, status,
                                                superseded_by)), 0)
     FROM submissions) AS submissions,
    (SELECT count(*) || ':' || coalesce(max(submission_id), 0) FROM progress_metrics) AS figures;
