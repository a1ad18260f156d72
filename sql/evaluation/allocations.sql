-- The units' own shares of the year's metrics (a unit with one is judged on it).
WITH active_tasks AS (
    SELECT task_id, year
    FROM tasks
    WHERE active
), allocations AS (
    SELECT task_id, position, unit, value
    FROM metric_allocations
)
SELECT a.task_id, a.position, a.unit, a.value AS allocation
FROM allocations a
JOIN active_tasks t USING (task_id)
WHERE t.year = $year;
