-- Every file a unit sent in the year up to the period ($unit, $first, $period), newest first:
-- when it arrived, what became of it, how many problems its receipt lists, and the receipt.
WITH sent AS (
    SELECT submission_id, unit, period, file_name, status, superseded_by, received_at, rows,
           receipt
    FROM submissions
), problems AS (
    SELECT submission_id, count(*) FILTER (WHERE severity = 'error') AS errors,
           count(*) FILTER (WHERE severity = 'warning') AS warnings
    FROM submission_problems
    GROUP BY submission_id
)
SELECT s.submission_id, s.period, s.file_name, s.status, s.superseded_by IS NOT NULL AS superseded,
       s.received_at, s.rows, coalesce(p.errors, 0) AS errors, coalesce(p.warnings, 0) AS warnings,
       s.receipt
FROM sent s
LEFT JOIN problems p USING (submission_id)
WHERE s.unit = $unit AND s.period BETWEEN $first AND $period
ORDER BY s.received_at DESC, s.submission_id DESC;
