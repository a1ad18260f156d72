-- The year's tasks as units report them: one row per (task, metric), in table order.
-- With the task's texts, the metric's annual target and bound, and how many responsible units
-- share the task (what an equal share of its target divides by); metric 0 = a task with no metric.
WITH active_tasks AS (
    SELECT task_id, year, seq, goal, content, lead_units
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position, label, value, measure, kind, bound
    FROM metrics
), year_tasks AS (
    SELECT *
    FROM active_tasks
    WHERE year = $year
), responsible_counts AS (
    SELECT task_id, count(DISTINCT unit) AS n_responsible
    FROM assignments
    WHERE year = $year AND role = 'responsible'
    GROUP BY task_id
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
        m.kind,
        m.bound,
        coalesce(r.n_responsible, 0) AS n_responsible
    FROM year_tasks t
    LEFT JOIN register_metrics m USING (task_id)
    LEFT JOIN responsible_counts r USING (task_id)
)
SELECT task_id, seq, goal, content, lead_units, position, label, target, measure, kind, bound,
       n_responsible
FROM task_lines
ORDER BY seq, position;
