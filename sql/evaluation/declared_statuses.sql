-- Each unit's declared status per milestone task (no metrics) for the period, from its latest file.
WITH statements AS (
    SELECT period, unit, task_id, status
    FROM latest_statements
), register_metrics AS (
    SELECT task_id
    FROM metrics
), declared AS (
    SELECT unit, task_id, status
    FROM statements
    WHERE period = $period AND status IS NOT NULL
)
SELECT d.unit, d.task_id, d.status
FROM declared d
ANTI JOIN register_metrics USING (task_id);
