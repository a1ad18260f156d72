-- The units' judgements for the period, by rank then name.
WITH judged_units AS (
    SELECT period, rank, unit, kind, submission, received_at, judged, on_track, on_track_share
    FROM eval_units
)
SELECT rank, unit, kind, submission, received_at, judged, on_track, on_track_share
FROM judged_units
WHERE period = $period
ORDER BY rank, unit;
