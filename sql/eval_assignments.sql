-- Who reports what for the year, lean: (unit, role, task, metric position, allocation); 0 = no metric.
WITH t AS (
    SELECT task_id, lead_units, responsible_units FROM tasks WHERE year = $year AND active
), a AS (
    SELECT t.task_id, u.unit, 'lead' AS role
    FROM t, unnest(t.lead_units) AS u(unit)
    UNION ALL
    SELECT t.task_id, u.unit, 'responsible' AS role
    FROM t, unnest(t.responsible_units) AS u(unit)
    WHERE NOT list_contains(t.lead_units, u.unit)
)
SELECT a.unit, a.role, a.task_id, coalesce(m.position, 0) AS position, al.value AS allocation
FROM a
LEFT JOIN metrics m ON m.task_id = a.task_id
LEFT JOIN metric_allocations al ON al.task_id = m.task_id AND al.position = m.position AND al.unit = a.unit;
