#!/usr/bin/env bash
# Start a Kafka Connect worker from the *.properties files mounted into WORKER_PROPERTIES_DIR.
#
# Every *.properties file under WORKER_PROPERTIES_DIR (default /etc/config/connect), recursively,
# skipping dot-directories such as a mounted Secret's ..data, is read as java.util.Properties
# reads it: `#`/`!` comments, `=`, `:` or whitespace between key and value (only the first one
# counts, so values keep their own `=`), backslash escapes and continuation lines. Keys become
# the CONNECT_* variables of Confluent's images (`a.b` -> CONNECT_A_B, `_` -> `__`, `-` -> `___`):
#
#   bootstrap.servers, security.protocol, sasl.*, ssl.*, client.dns.lookup
#       -> the worker itself and its producer., consumer. and admin. clients
#   schema.registry.url, basic.auth.credentials.source, basic.auth.user.info
#   (or schema.registry.basic.auth.user.info)
#       -> key.converter.* and value.converter.*
#   replication.factor -> the config, offset and status topics
#   worker.<key> -> <key> as it is, for any other worker setting
#
# Other keys are ignored (their names are logged). A CONNECT_* variable already in the
# environment wins over the files. Defaults fill in the rest of what the cp image insists on,
# except bootstrap.servers: with no file mounted, the worker starts if the environment names the
# brokers (CONNECT_BOOTSTRAP_SERVERS), and the image's own check says so if nothing does.
#
# Values are secrets (JAAS passwords, Schema Registry credentials): this script prints key and
# variable names only, never a value, and switches tracing off even under `bash -x`.
#
# Usage:
#   start.sh                     export the variables and exec /etc/confluent/docker/run
#   start.sh --render-only DIR   write DIR/worker.env (NUL-separated NAME=value records, mode
#                                0600) instead, and exit; for tests and for debugging
set +x
set -euo pipefail
shopt -s extglob

# Not CONNECT_*: the cp image turns every CONNECT_* variable into a worker property.
readonly CONFIG_DIR="${WORKER_PROPERTIES_DIR:-/etc/config/connect}"

declare -A generated=()   # CONNECT_* name -> value, from the files and the defaults
declare -a order=()       # names in the order they were first set, for stable output

log() {
    printf 'connect-start: %s\n' "$*" >&2
}

# --- Java properties parsing -------------------------------------------------------------

# unescape TEXT: resolve \t \n \r \f \uXXXX and \<char> the way Properties.load does.
# The result goes to the variable named by $2 (no subshell, no echo of the value).
unescape() {
    local text=$1 out="" char next hex decoded
    local -i i=0 length=${#1}
    while (( i < length )); do
        char=${text:i:1}
        if [[ $char != "\\" ]]; then
            out+=$char
            (( i += 1 ))
            continue
        fi
        if (( i + 1 >= length )); then
            break   # a lone trailing backslash is dropped
        fi
        next=${text:i+1:1}
        case $next in
            t) out+=$'\t' ;;
            n) out+=$'\n' ;;
            r) out+=$'\r' ;;
            f) out+=$'\f' ;;
            u)
                hex=${text:i+2:4}
                if [[ $hex =~ ^[0-9a-fA-F]{4}$ ]]; then
                    utf8 $(( 16#$hex )) decoded
                    out+=$decoded
                    (( i += 6 ))
                    continue
                fi
                out+=u
                ;;
            *) out+=$next ;;
        esac
        (( i += 2 ))
    done
    printf -v "$2" '%s' "$out"
}

# utf8 CODEPOINT VAR: the UTF-8 bytes of a \uXXXX escape, whatever the locale (printf's own
# \u needs a UTF-8 locale, which a container may not have). U+0000 is dropped: bash strings
# cannot hold it.
utf8() {
    local -i code=$1
    local format
    if (( code == 0 )); then
        format=""
    elif (( code < 0x80 )); then
        printf -v format '\\%03o' "$code"
    elif (( code < 0x800 )); then
        printf -v format '\\%03o\\%03o' $(( 0xC0 | code >> 6 )) $(( 0x80 | (code & 0x3F) ))
    else
        printf -v format '\\%03o\\%03o\\%03o' $(( 0xE0 | code >> 12 )) \
            $(( 0x80 | (code >> 6 & 0x3F) )) $(( 0x80 | (code & 0x3F) ))
    fi
    # shellcheck disable=SC2059  # the format is the octal escapes built just above
    printf -v "$2" "$format"
}

# A line continues when it ends in an odd number of backslashes.
continues() {
    local line=$1 stripped
    stripped=${line%%+(\\)}
    (( (${#line} - ${#stripped}) % 2 == 1 ))
}

# parse_file FILE CALLBACK: call CALLBACK KEY VALUE for every property, in file order.
parse_file() {
    local file=$1 callback=$2 line logical key value rest char
    local -i position length
    local -a lines=()
    mapfile -t lines < "$file" || true
    local -i index=0 count=${#lines[@]}
    while (( index < count )); do
        line=${lines[index]%$'\r'}
        (( index += 1 ))
        line=${line##+([ $'\t\f'])}
        [[ -z $line || $line == '#'* || $line == '!'* ]] && continue
        logical=""
        while continues "$line"; do
            logical+=${line%\\}
            if (( index >= count )); then
                line=""
                break
            fi
            line=${lines[index]%$'\r'}
            (( index += 1 ))
            line=${line##+([ $'\t\f'])}
        done
        logical+=$line
        # The key ends at the first unescaped '=', ':' or whitespace.
        position=0
        length=${#logical}
        while (( position < length )); do
            char=${logical:position:1}
            if [[ $char == "\\" ]]; then
                (( position += 2 ))
                continue
            fi
            [[ $char == [=:$' \t\f'] ]] && break
            (( position += 1 ))
        done
        key=${logical:0:position}
        rest=${logical:position}
        rest=${rest##+([ $'\t\f'])}
        if [[ $rest == [=:]* ]]; then
            rest=${rest:1}
            rest=${rest##+([ $'\t\f'])}
        fi
        unescape "$key" key
        unescape "$rest" value
        "$callback" "$key" "$value"
    done
}

# --- properties -> CONNECT_* ------------------------------------------------------------

# env_name PROPERTY: the cp images' variable for a worker property, into $REPLY.
env_name() {
    local name=$1
    name=${name//_/__}
    name=${name//-/___}
    name=${name//./_}
    REPLY="CONNECT_${name^^}"
}

set_property() {
    local property=$1 value=$2
    env_name "$property"
    if [[ ! $REPLY =~ ^[A-Z_][A-Z0-9_]*$ ]]; then
        log "ignoring property '$property': no environment variable can carry its name"
        return 1
    fi
    if [[ -z ${generated[$REPLY]+set} ]]; then
        order+=("$REPLY")
    fi
    generated[$REPLY]=$value
}

apply_property() {
    local key=$1 value=$2 prefix
    case $key in
        bootstrap.servers | security.protocol | client.dns.lookup | sasl.* | ssl.*)
            for prefix in "" producer. consumer. admin.; do
                set_property "$prefix$key" "$value"
            done
            ;;
        schema.registry.url | basic.auth.credentials.source | basic.auth.user.info)
            set_property "key.converter.$key" "$value"
            set_property "value.converter.$key" "$value"
            ;;
        schema.registry.basic.auth.user.info)
            set_property key.converter.basic.auth.user.info "$value"
            set_property value.converter.basic.auth.user.info "$value"
            ;;
        replication.factor)
            set_property config.storage.replication.factor "$value"
            set_property offset.storage.replication.factor "$value"
            set_property status.storage.replication.factor "$value"
            ;;
        worker.?*)
            set_property "${key#worker.}" "$value" || return 0
            ;;
        *)
            log "ignoring property '$key' (not a worker setting; prefix it with 'worker.')"
            return
            ;;
    esac
    log "using property '$key'"
}

default() {
    local property=$1 value=$2
    env_name "$property"
    if [[ -z ${generated[$REPLY]+set} ]]; then
        set_property "$property" "$value"
    fi
}

find_properties_files() {
    [[ -d $CONFIG_DIR ]] || return 0
    find "$CONFIG_DIR" -mindepth 1 -name '.*' -prune -o \
        -name '*.properties' \( -type f -o -type l \) -print0 | sort -z
}

main() {
    local render_dir=""
    if [[ ${1:-} == --render-only ]]; then
        render_dir=${2:?usage: start.sh --render-only DIR}
    elif (( $# > 0 )); then
        log "unknown arguments; usage: start.sh [--render-only DIR]"
        exit 2
    fi
    local file
    local -i files=0
    while IFS= read -r -d '' file; do
        log "reading ${file#"$CONFIG_DIR"/}"
        parse_file "$file" apply_property
        (( files += 1 ))
    done < <(find_properties_files)
    (( files > 0 )) || log "no *.properties files under $CONFIG_DIR; using defaults and the environment"
    if [[ -z ${generated[CONNECT_BOOTSTRAP_SERVERS]+set} && -z ${CONNECT_BOOTSTRAP_SERVERS:-} ]]; then
        log "no bootstrap.servers in the files and no CONNECT_BOOTSTRAP_SERVERS: the worker cannot start"
    fi

    # What the cp image's configure step insists on, unless the files or the environment say.
    local schema_registry=${generated[CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL]:-${CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL:-}}
    local converter=org.apache.kafka.connect.json.JsonConverter
    [[ -n $schema_registry ]] && converter=io.confluent.connect.avro.AvroConverter
    default group.id connect-operator-connect
    default config.storage.topic connect-operator-connect-configs
    default offset.storage.topic connect-operator-connect-offsets
    default status.storage.topic connect-operator-connect-status
    # -1: the broker's default.replication.factor (Kafka 2.4+), right for 1 broker and for many.
    default config.storage.replication.factor -1
    default offset.storage.replication.factor -1
    default status.storage.replication.factor -1
    default key.converter "$converter"
    default value.converter "$converter"
    default rest.port 8083
    default rest.advertised.host.name "${POD_IP:-$(hostname -i | cut -d' ' -f1)}"

    local name
    local -a from_environment=()
    local -a effective=()
    for name in "${order[@]}"; do
        if [[ -n ${!name+set} ]]; then
            from_environment+=("$name")
        else
            printf -v "$name" '%s' "${generated[$name]}"
            # shellcheck disable=SC2163  # exporting the variable whose name is in $name
            export "$name"
        fi
        effective+=("$name")
    done
    log "worker settings from the files and defaults: ${#effective[@]} (${effective[*]})"
    if (( ${#from_environment[@]} > 0 )); then
        log "kept from the environment: ${from_environment[*]}"
    fi

    if [[ -n $render_dir ]]; then
        mkdir -p "$render_dir"
        local target="$render_dir/worker.env"
        (
            umask 077
            : > "$target"
            for name in "${effective[@]}"; do
                printf '%s=%s\0' "$name" "${!name}" >> "$target"
            done
        )
        log "wrote $target"
        return 0
    fi
    exec /etc/confluent/docker/run
}

main "$@"
