{#- Run at the start of every dbt invocation (on-run-start in dbt_project.yml): what the engine needs before any
    model. PostgreSQL: pgcrypto (keyed_hash, macros/pseudonym.sql), jw_array_last (value_ignoring_nulls), jw_damerau_levenshtein (edit_distance,
    macros/identity.sql) and jw_jaro_winkler_similarity (jaro_winkler, macros/portability/functions.sql), in schema
    public. -#}
{% macro engine_setup() -%}
    {{ return(adapter.dispatch('engine_setup')()) }}
{%- endmacro %}

{% macro default__engine_setup() -%}
    select 1
{%- endmacro %}

{#- jw_damerau_levenshtein: DuckDB's damerau_levenshtein (insertions, deletions, substitutions and transpositions of
    adjacent characters; the optimal string alignment form, equal to DuckDB's for the distances of 0 to 2 the identity
    graph compares), by dynamic programming over the two strings. NULL in, NULL out. -#}
{% macro postgres__engine_setup() -%}
    create extension if not exists pgcrypto;
    create or replace function public.jw_damerau_levenshtein(a text, b text) returns integer
    language plpgsql immutable strict parallel safe as $fn$
    declare
        la integer := char_length(a);
        lb integer := char_length(b);
        d integer[];
        cost integer;
        i integer;
        j integer;
        w integer := char_length(b) + 1;
    begin
        if la = 0 then return lb; end if;
        if lb = 0 then return la; end if;
        d := array_fill(0, array[(la + 1) * w]);
        for i in 0..la loop d[i * w + 1] := i; end loop;
        for j in 0..lb loop d[j + 1] := j; end loop;
        for i in 1..la loop
            for j in 1..lb loop
                cost := case when substr(a, i, 1) = substr(b, j, 1) then 0 else 1 end;
                d[i * w + j + 1] := least(d[(i - 1) * w + j + 1] + 1, d[i * w + j] + 1, d[(i - 1) * w + j] + cost);
                if i > 1 and j > 1 and substr(a, i, 1) = substr(b, j - 1, 1) and substr(a, i - 1, 1) = substr(b, j, 1) then
                    d[i * w + j + 1] := least(d[i * w + j + 1], d[(i - 2) * w + j - 1] + 1);
                end if;
            end loop;
        end loop;
        return d[la * w + lb + 1];
    end
    $fn$;
    create or replace function public.jw_array_last(values_ anyarray) returns anyelement
    language sql immutable strict parallel safe as $fn$ select values_[array_upper(values_, 1)] $fn$;
    create or replace function public.jw_jaro_winkler_similarity(a text, b text) returns double precision
    language plpgsql immutable strict parallel safe as $fn$
    declare
        la integer := char_length(a);
        lb integer := char_length(b);
        window_size integer;
        a_used boolean[];
        b_used boolean[];
        matches integer := 0;
        transposed integer := 0;
        prefix integer := 0;
        i integer;
        j integer;
        k integer := 1;
        jaro double precision;
    begin
        if la = 0 and lb = 0 then return 1.0; end if;
        if la = 0 or lb = 0 then return 0.0; end if;
        window_size := greatest(greatest(la, lb) / 2 - 1, 0);
        a_used := array_fill(false, array[la]);
        b_used := array_fill(false, array[lb]);
        for i in 1..la loop
            for j in greatest(1, i - window_size)..least(lb, i + window_size) loop
                if not b_used[j] and substr(a, i, 1) = substr(b, j, 1) then
                    a_used[i] := true;
                    b_used[j] := true;
                    matches := matches + 1;
                    exit;
                end if;
            end loop;
        end loop;
        if matches = 0 then return 0.0; end if;
        for i in 1..la loop
            if a_used[i] then
                while not b_used[k] loop k := k + 1; end loop;
                if substr(a, i, 1) <> substr(b, k, 1) then transposed := transposed + 1; end if;
                k := k + 1;
            end if;
        end loop;
        jaro := (matches::double precision / la + matches::double precision / lb
                 + (matches - transposed / 2)::double precision / matches) / 3.0;
        if jaro > 0.7 then
            while prefix < least(4, la, lb) and substr(a, prefix + 1, 1) = substr(b, prefix + 1, 1) loop
                prefix := prefix + 1;
            end loop;
            jaro := jaro + prefix * 0.1 * (1.0 - jaro);
        end if;
        return jaro;
    end
    $fn$
{%- endmacro %}
