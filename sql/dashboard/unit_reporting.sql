-- Every reporting unit of the period's year and where its report stands ($period, $year): when it
-- first opened its portal link (已读), its latest accepted file (received when, how many rows),
-- how many files it sent (refused ones too), and its evidence.
WITH reporting AS (
    SELECT unit, count(DISTINCT task_id) AS tasks
    FROM assignments
    WHERE year = $year
    GROUP BY unit
), registered AS (
    SELECT name AS unit, kind
    FROM units
), opened AS (
    SELECT unit, min(happened_at) AS opened_at
    FROM portal_events
    WHERE action = 'view' AND period = $period AND unit IS NOT NULL
    GROUP BY unit
), sent AS (
    SELECT unit, count(*) AS files, count(*) FILTER (WHERE status = 'rejected') AS refused
    FROM submissions
    WHERE period = $period AND unit IS NOT NULL
    GROUP BY unit
), accepted AS (
    SELECT unit, received_at, rows
    FROM latest_submissions
    WHERE period = $period
), attached AS (
    SELECT unit, count(*) AS evidence
    FROM evidence
    WHERE period = $period
    GROUP BY unit
)
SELECT r.unit, g.kind, r.tasks, o.opened_at, a.received_at, a.rows,
       coalesce(s.files, 0) AS files, coalesce(s.refused, 0) AS refused,
       coalesce(e.evidence, 0) AS evidence
FROM reporting r
LEFT JOIN registered g USING (unit)
LEFT JOIN opened o USING (unit)
LEFT JOIN sent s USING (unit)
LEFT JOIN accepted a USING (unit)
LEFT JOIN attached e USING (unit)
ORDER BY r.unit;
