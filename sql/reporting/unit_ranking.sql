-- The units' judgements for the period, ranked units first by rank, then the units with too few
-- judged items to rank (rank NULL) by score; by name within. Ranks count within each of the two
-- ranking tables (towns, zones, streets; departments, companies: Briefing.ranking_tables).
WITH judged_units AS (
    SELECT period, rank, unit, kind, submission, received_at, judged, on_track, on_track_share
    FROM eval_units
)
SELECT rank, unit, kind, submission, received_at, judged, on_track, on_track_share
FROM judged_units
WHERE period = $period
ORDER BY rank NULLS LAST, on_track_share DESC, unit;
