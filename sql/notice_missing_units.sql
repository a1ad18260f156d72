-- Reporting units with no accepted file for the period, and how many tasks each reports.
WITH reporting AS (
    SELECT unit, count(DISTINCT task_id) AS tasks
    FROM (
        SELECT u.unit, t.task_id
        FROM tasks t, unnest(list_concat(t.lead_units, t.responsible_units)) AS u(unit)
        WHERE t.year = $year AND t.active
    )
    GROUP BY unit
)
SELECT r.unit, r.tasks
FROM reporting r
WHERE r.unit NOT IN (SELECT unit FROM submissions WHERE status = 'accepted' AND period = $period AND unit IS NOT NULL)
ORDER BY r.unit;
