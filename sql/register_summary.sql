-- Counts of the active register of a year, for the import summary.
WITH t AS (
    SELECT * FROM tasks WHERE year = $year AND active
), m AS (
    SELECT m.* FROM metrics m JOIN t USING (task_id)
)
SELECT
    (SELECT count(*) FROM t)                                              AS tasks,
    (SELECT count(*) FROM m)                                              AS metrics,
    (SELECT count(*) FROM m WHERE confirmed)                              AS confirmed,
    (SELECT count(*) FROM t WHERE task_id NOT IN (SELECT task_id FROM m)) AS milestones,
    (SELECT coalesce(list(task_id ORDER BY task_id), []) FROM t WHERE related_pending) AS related_pending,
    (SELECT coalesce(list(task_id ORDER BY task_id), []) FROM t
      WHERE reviewed_hash IS NOT NULL AND reviewed_hash <> content_hash)  AS needs_review;
