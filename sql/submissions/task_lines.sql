-- The year's tasks as units report them: one row per (task, metric), in table order.
-- With the task's texts and the metric's annual target; metric 0 = a task with no metric.
WITH active_tasks AS (
    SELECT task_id, year, seq, goal, content, lead_units
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position, label, value, measure, kind
    FROM metrics
), year_tasks AS (
    SELECT *
    FROM active_tasks
    WHERE year = $year
), task_lines AS (
    SELECT
        t.task_id,
        t.seq,
        t.goal,
        t.content,
        t.lead_units,
        coalesce(m.position, 0) AS position,
        m.label,
        m.value AS target,
        m.measure,
        m.kind
    FROM year_tasks t
    LEFT JOIN register_metrics m USING (task_id)
)
SELECT task_id, seq, goal, content, lead_units, position, label, target, measure, kind
FROM task_lines
ORDER BY seq, position;
