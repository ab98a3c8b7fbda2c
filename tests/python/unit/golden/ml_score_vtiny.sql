select
    features.log_entry_id,
    level.predicted_level,
    level.level_confidence,
    level.level_explanation,
    case
        when proba.proba_0 >= proba.proba_1 then false
        else true
    end as is_anomaly,
    proba.proba_1 as anomaly_score,
    case
        when proba.proba_0 >= proba.proba_1 then proba.proba_0
        else proba.proba_1
    end as anomaly_confidence,
    'supervised tree model: ' || case
        when features.template_frequency = 0.0::float8 then 'template never seen in training'
        when features.template_frequency < 0.001::float8 then 'rare template (< 0.1% of training lines)'
        else 'common template'
    end || '; level ' || case
        when features.level_ordinal = 0.0::float8 then 'DEBUG'
        when features.level_ordinal = 1.0::float8 then 'INFO'
        when features.level_ordinal = 2.0::float8 then 'WARN'
        when features.level_ordinal = 3.0::float8 then 'ERROR'
        when features.level_ordinal = 4.0::float8 then 'FATAL'
        else 'unknown'
    end as anomaly_explanation,
    features.template_hash,
    features.template_lines,
    features.service_lines
from ({{ log_features(batch, 'ml_template_frequency_vtiny', history_version='vtiny', history=history) }}) as features
cross join lateral unnest(array[row(
    features.message_length::float4,
    features.token_count::float4,
    features.digit_ratio::float4,
    features.template_frequency::float4,
    features.level_ordinal::float4,
    features.http_status::float4,
    features.response_time_ms::float4
)]) as x (x_0 float4, x_1 float4, x_2 float4, x_3 float4, x_4 float4, x_5 float4, x_6 float4)
cross join lateral unnest(array[row(
    case
        when x.x_4 <= 2.5::float8 then 1
        else 2
    end
)]) as leaf (leaf_0 integer)
cross join lateral unnest(array[row(
    ('{1.0,0.0}'::float8[])[leaf.leaf_0],
    ('{0.0,1.0}'::float8[])[leaf.leaf_0]
)]) as proba (proba_0 float8, proba_1 float8)
-- Once per distinct features.template: the subquery reads nothing else of the row,
-- so PostgreSQL memoizes it (offset 0 keeps it one subquery).
cross join lateral (
    select
        case
            when decision.decision_0 >= decision.decision_1
                and decision.decision_0 >= decision.decision_2
                then 'ERROR'
            when decision.decision_1 > decision.decision_0
                and decision.decision_1 >= decision.decision_2
                then 'INFO'
            else 'WARN'
        end as predicted_level,
        case
            when decision.decision_0 >= decision.decision_1
                and decision.decision_0 >= decision.decision_2
                then softmax.softmax_0
            when decision.decision_1 > decision.decision_0
                and decision.decision_1 >= decision.decision_2
                then softmax.softmax_1
            else softmax.softmax_2
        end as level_confidence,
        case
            when top_terms.top_terms = '' then 'no known term for it (against ' || case
                when others.others_0 >= others.others_1 and others.others_0 >= others.others_2 then 'ERROR'
                when others.others_1 > others.others_0 and others.others_1 >= others.others_2 then 'INFO'
                else 'WARN'
            end || ')'
            else 'terms ' || top_terms.top_terms || ' (against ' || case
                when others.others_0 >= others.others_1 and others.others_0 >= others.others_2 then 'ERROR'
                when others.others_1 > others.others_0 and others.others_1 >= others.others_2 then 'INFO'
                else 'WARN'
            end || ')'
        end as level_explanation
    from (
        select
            sum(tfidf_weighted.x * tfidf_weighted.w_0) as dot_0,
            sum(tfidf_weighted.x * tfidf_weighted.w_1) as dot_1,
            sum(tfidf_weighted.x * tfidf_weighted.w_2) as dot_2
        from (
            select vocabulary.idf as x, vocabulary.w_0, vocabulary.w_1, vocabulary.w_2
            from lateral string_to_table(features.template, ' ') as tokens (token)
            inner join {{ ref('ml_level_classifier_vocabulary_vtiny') }} as vocabulary
                on vocabulary.term = tokens.token
            where tokens.token <> ''
        ) as tfidf_weighted
    ) as tfidf
    cross join lateral unnest(array[row(
        (coalesce(tfidf.dot_0, 0.0::float8) + 0.5::float8),
        (coalesce(tfidf.dot_1, 0.0::float8) + (-0.25)::float8),
        (coalesce(tfidf.dot_2, 0.0::float8) + 0.0::float8)
    )]) as decision (decision_0 float8, decision_1 float8, decision_2 float8)
    cross join lateral unnest(array[row(
        greatest(decision.decision_0, decision.decision_1, decision.decision_2)
    )]) as largest (largest_0 float8)
    cross join lateral unnest(array[row(
        exp(least(greatest((decision.decision_0 - largest.largest_0), -745.133), 709.782)),
        exp(least(greatest((decision.decision_1 - largest.largest_0), -745.133), 709.782)),
        exp(least(greatest((decision.decision_2 - largest.largest_0), -745.133), 709.782))
    )]) as exps (exps_0 float8, exps_1 float8, exps_2 float8)
    cross join lateral unnest(array[row(
        (exps.exps_0 / (exps.exps_0 + exps.exps_1 + exps.exps_2)),
        (exps.exps_1 / (exps.exps_0 + exps.exps_1 + exps.exps_2)),
        (exps.exps_2 / (exps.exps_0 + exps.exps_1 + exps.exps_2))
    )]) as softmax (softmax_0 float8, softmax_1 float8, softmax_2 float8)
    cross join lateral unnest(array[row(
        case
            when decision.decision_0 >= decision.decision_1
                and decision.decision_0 >= decision.decision_2
                then 0
            when decision.decision_1 > decision.decision_0 and decision.decision_1 >= decision.decision_2 then 1
            else 2
        end
    )]) as winner (winner_0 integer)
    cross join lateral unnest(array[row(
        case
            when winner.winner_0 = 0 then '-Infinity'::float8
            else decision.decision_0
        end,
        case
            when winner.winner_0 = 1 then '-Infinity'::float8
            else decision.decision_1
        end,
        case
            when winner.winner_0 = 2 then '-Infinity'::float8
            else decision.decision_2
        end
    )]) as others (others_0 float8, others_1 float8, others_2 float8)
    cross join lateral unnest(array[row(
        case
            when others.others_0 >= others.others_1 and others.others_0 >= others.others_2 then 0
            when others.others_1 > others.others_0 and others.others_1 >= others.others_2 then 1
            else 2
        end
    )]) as runner_up (runner_up_0 integer)
    cross join lateral (
        select coalesce(string_agg(top_terms_ranked.term, ', ' order by top_terms_ranked.contribution desc, top_terms_ranked.term collate "C"), '') as top_terms
        from (
            select vocabulary_2.term, sum(vocabulary_2.idf * (case
                when winner.winner_0 = 0 then vocabulary_2.w_0
                when winner.winner_0 = 1 then vocabulary_2.w_1
                else vocabulary_2.w_2
            end - case
                when runner_up.runner_up_0 = 0 then vocabulary_2.w_0
                when runner_up.runner_up_0 = 1 then vocabulary_2.w_1
                else vocabulary_2.w_2
            end)) as contribution
            from lateral string_to_table(features.template, ' ') as tokens_2 (token)
            inner join {{ ref('ml_level_classifier_vocabulary_vtiny') }} as vocabulary_2
                on vocabulary_2.term = tokens_2.token
            where tokens_2.token <> ''
            group by vocabulary_2.term
            order by contribution desc, vocabulary_2.term collate "C"
            limit 3
        ) as top_terms_ranked
        where top_terms_ranked.contribution > 0.0::float8
    ) as top_terms
    offset 0
) as level
