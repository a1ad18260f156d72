-- The given file hashes ($shas) already on file: accepted if any such file was, else rejected.
WITH received AS (
    SELECT sha256, status
    FROM submissions
), asked AS (
    SELECT unnest($shas) AS sha256
), on_file AS (
    SELECT r.sha256, r.status
    FROM received r
    SEMI JOIN asked USING (sha256)
)
SELECT sha256, CASE WHEN bool_or(status = 'accepted') THEN 'accepted' ELSE 'rejected' END AS status
FROM on_file
GROUP BY sha256;
