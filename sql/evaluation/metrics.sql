-- The year's active metrics in task order, with their tasks' lead units in the table's order.
-- (The first lead unit with a figure speaks for the district.)
WITH active_tasks AS (
    SELECT task_id, year, lead_units
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position, label, kind, bound, measure, value
    FROM metrics
), year_metrics AS (
    SELECT m.task_id, m.position, m.label, m.kind, m.bound, m.measure, m.value AS target,
           t.lead_units
    FROM register_metrics m
    JOIN active_tasks t USING (task_id)
    WHERE t.year = $year
)
SELECT task_id, position, label, kind, bound, measure, target, lead_units
FROM year_metrics
ORDER BY task_id, position;
