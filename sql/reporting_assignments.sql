-- Who reports what in a year: one row per (unit, task, metric) with the unit's role and its own
-- allocation, in table order per unit; metric 0 = a task with no metric. A unit reports a task
-- it leads (role lead: the district figure) or is responsible for. The task texts and targets
-- are the same for every unit: reporting_task_lines.sql has them once per task.
WITH t AS (
    SELECT task_id, seq, lead_units, responsible_units FROM tasks WHERE year = $year AND active
), assignments AS (
    SELECT DISTINCT t.task_id, u.unit, 'lead' AS role
    FROM t, unnest(t.lead_units) AS u(unit)
    UNION
    SELECT DISTINCT t.task_id, u.unit, 'responsible' AS role
    FROM t, unnest(t.responsible_units) AS u(unit)
    WHERE NOT list_contains(t.lead_units, u.unit)
)
SELECT
    a.unit,
    a.role,
    t.task_id,
    coalesce(m.position, 0) AS position,
    al.value AS allocation
FROM assignments a
JOIN t USING (task_id)
LEFT JOIN metrics m ON m.task_id = t.task_id
LEFT JOIN metric_allocations al
       ON al.task_id = m.task_id AND al.position = m.position AND al.unit = a.unit
ORDER BY a.unit, t.seq, position;
