-- The year's active metrics in task order with allocations and schedules, for the review file.
-- Allocations as (unit, value) by unit, schedules as (month, share) by month.
WITH active_tasks AS (
    SELECT task_id, year
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position, label, value, measure, kind, bound
    FROM metrics
), allocations AS (
    SELECT task_id, position, unit, value
    FROM metric_allocations
), schedules AS (
    SELECT task_id, position, month, share
    FROM metric_schedule
), year_metrics AS (
    SELECT m.*
    FROM register_metrics m
    JOIN active_tasks t USING (task_id)
    WHERE t.year = $year
), allocation_lists AS (
    SELECT task_id, position, list((unit, value) ORDER BY unit) AS allocations
    FROM allocations
    GROUP BY task_id, position
), schedule_lists AS (
    SELECT task_id, position, list((month, share) ORDER BY month) AS schedule
    FROM schedules
    GROUP BY task_id, position
)
SELECT m.task_id, m.position, m.label, m.value, m.measure, m.kind, m.bound, a.allocations,
       s.schedule
FROM year_metrics m
LEFT JOIN allocation_lists a USING (task_id, position)
LEFT JOIN schedule_lists s USING (task_id, position)
ORDER BY m.task_id, m.position;
