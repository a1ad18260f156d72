-- Receipts of the period's files whose sender is known, oldest first.
SELECT submission_id, unit, file_name, status, receipt
FROM submissions
WHERE period = $period AND unit IS NOT NULL
ORDER BY submission_id;
