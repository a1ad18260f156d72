-- Active tasks of a year for the review file, in table order.
SELECT task_id, goal, content, reviewed_hash IS NOT NULL AS reviewed
FROM tasks
WHERE year = $year AND active
ORDER BY seq;
