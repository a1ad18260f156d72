-- Who reports what per metric: (unit, role, task, metric, allocation), in table order per unit.
-- One row per (unit, task, metric) with the unit's role (lead: the district figure; responsible)
-- and its own allocation; metric 0 = a task with no metric. The task texts and targets are the
-- same for every unit: task_lines.sql has them once per task. $units: only these units (a list),
-- or every unit (NULL).
WITH year_assignments AS (
    SELECT task_id, unit, role
    FROM assignments
    WHERE year = $year
      AND ($units::VARCHAR[] IS NULL OR list_contains($units::VARCHAR[], unit))
), active_tasks AS (
    SELECT task_id, seq
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position
    FROM metrics
), allocations AS (
    SELECT task_id, position, unit, value
    FROM metric_allocations
), assigned_tasks AS (
    SELECT a.unit, a.role, a.task_id, t.seq
    FROM year_assignments a
    JOIN active_tasks t USING (task_id)
), assigned_metrics AS (
    SELECT a.unit, a.role, a.task_id, a.seq, coalesce(m.position, 0) AS position
    FROM assigned_tasks a
    LEFT JOIN register_metrics m USING (task_id)
), with_allocations AS (
    SELECT a.unit, a.role, a.task_id, a.seq, a.position, al.value AS allocation
    FROM assigned_metrics a
    LEFT JOIN allocations al USING (task_id, position, unit)
)
SELECT unit, role, task_id, position, allocation
FROM with_allocations
ORDER BY unit, seq, position;
