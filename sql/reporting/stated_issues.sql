-- The problems the units stated for the period (latest accepted files), by task and unit.
WITH statements AS (
    SELECT period, unit, task_id, issues
    FROM latest_statements
), stated AS (
    SELECT task_id, unit, issues
    FROM statements
    WHERE period = $period AND issues IS NOT NULL AND trim(issues) NOT IN ('', '无')
)
SELECT task_id, unit, issues
FROM stated
ORDER BY task_id, unit;
