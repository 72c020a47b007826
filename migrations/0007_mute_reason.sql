-- Lookout store, schema version 7: why an alert is muted, and why a notice was not sent, are
-- data (issue 17), no longer free text matched by its first words.
--   alerts.mute           JSON alert::mute::MuteReason, {"kind": "silence" | "inhibited" | "gate"
--                         | "maintenance" | "flapping" | "recorded", ...}; NULL: not muted.
--   alert_history.untold  JSON alert::mute::Untold, {"kind": "muted" | "withdrawn" (each with
--                         its "reason") | "resolved_before_firing_sent" | "send_resolved_off"
--                         | "firing_not_told" | "continues_firing"}; NULL: sent.
-- Rows written before keep their meaning: the old words are read once, here, into the new
-- columns (words this version does not know are kept as a "recorded" reason, shown as
-- written), and the text columns go. Embedded in the binary (src/store/open.rs); never edited
-- once released.

ALTER TABLE alerts ADD COLUMN mute TEXT;
ALTER TABLE alert_history ADD COLUMN untold TEXT;

-- Every mute reason the old rows hold, as text and as data.
CREATE TEMP TABLE mute_words (words TEXT PRIMARY KEY, reason TEXT);
INSERT OR IGNORE INTO mute_words (words) SELECT muted_by FROM alerts WHERE muted_by <> '';
INSERT OR IGNORE INTO mute_words (words)
    SELECT CASE WHEN length(muted_by) > 27 AND substr(muted_by, -27) = ' (withdrawn before sending)'
                THEN substr(muted_by, 1, length(muted_by) - 27)
                ELSE muted_by END
      FROM alert_history WHERE muted_by <> '';
UPDATE mute_words SET reason = CASE
    WHEN substr(words, 1, 12) = 'silenced by '
        THEN json_object('kind', 'silence', 'id', substr(words, 13))
    WHEN substr(words, 1, 13) = 'inhibited by ' AND instr(words, '{check=') > 13
            AND substr(words, -1) = '}'
        THEN json_object('kind', 'inhibited',
                         'rule', substr(words, 14, instr(words, '{check=') - 14),
                         'check', substr(words, instr(words, '{check=') + 7,
                                         length(words) - instr(words, '{check=') - 7))
    WHEN substr(words, 1, 13) = 'inhibited by '
        THEN json_object('kind', 'inhibited', 'rule', substr(words, 14))
    WHEN words = 'held: monitoring connectivity lost'
        THEN json_object('kind', 'gate', 'hold', 'lost')
    WHEN words = 'held: connectivity back, re-checking'
        THEN json_object('kind', 'gate', 'hold', 'returning')
    WHEN words = 'maintenance'
        THEN json_object('kind', 'maintenance', 'detail', '')
    WHEN substr(words, 1, 12) = 'maintenance '
        THEN json_object('kind', 'maintenance', 'detail', substr(words, 13))
    WHEN substr(words, 1, 10) = 'flapping: ' AND instr(words, ' changes in ') > 11
            AND CAST(CAST(substr(words, 11, instr(words, ' changes in ') - 11) AS INTEGER) AS TEXT)
                = substr(words, 11, instr(words, ' changes in ') - 11)
        THEN json_object('kind', 'flapping',
                         'changes', CAST(substr(words, 11, instr(words, ' changes in ') - 11) AS INTEGER),
                         'over', substr(words, instr(words, ' changes in ') + 12))
    ELSE json_object('kind', 'recorded', 'text', words)
END;

UPDATE alerts SET mute = (SELECT reason FROM mute_words WHERE words = alerts.muted_by)
 WHERE muted_by <> '';

UPDATE alert_history SET untold = CASE
    WHEN muted_by = 'resolved before its firing went out'
        THEN json_object('kind', 'resolved_before_firing_sent')
    WHEN muted_by = 'send_resolved = false'
        THEN json_object('kind', 'send_resolved_off')
    WHEN muted_by = 'its firing was not told'
        THEN json_object('kind', 'firing_not_told')
    WHEN muted_by = 'continues the firing told before (its resolution was withdrawn before it went out)'
        THEN json_object('kind', 'continues_firing')
    WHEN length(muted_by) > 27 AND substr(muted_by, -27) = ' (withdrawn before sending)'
        THEN json_object('kind', 'withdrawn', 'reason', json((SELECT reason FROM mute_words
                WHERE words = substr(alert_history.muted_by, 1, length(alert_history.muted_by) - 27))))
    ELSE json_object('kind', 'muted', 'reason', json((SELECT reason FROM mute_words
                WHERE words = alert_history.muted_by)))
END
 WHERE muted_by <> '';

DROP TABLE mute_words;
ALTER TABLE alerts DROP COLUMN muted_by;
ALTER TABLE alert_history DROP COLUMN muted_by;
