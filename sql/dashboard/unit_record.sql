-- A unit's record over the year up to the period ($unit, $first, $period): on time, late or
-- missing each evaluated month, its share of judged items on track, and its rank.
WITH judged AS (
    SELECT period, unit, submission, received_at, judged, on_track, on_track_share, rank
    FROM eval_units
)
SELECT period, submission, received_at, judged, on_track, on_track_share, rank
FROM judged
WHERE unit = $unit AND period BETWEEN $first AND $period
ORDER BY period;
