-- The receipts of the period's files whose sender is known, oldest first.
WITH received AS (
    SELECT submission_id, unit, period, file_name, status, receipt
    FROM submissions
)
SELECT submission_id, unit, file_name, status, receipt
FROM received
WHERE period = $period AND unit IS NOT NULL
ORDER BY submission_id;
