/* msg.c - the protocol's messages read from and written to value trees.
 *
 * The one idea: a message is judged by its "type" first. A type we know is
 * validated strictly (key, seq, base, id, data, as the type has them), a type
 * we do not know is accepted as PW_MSG_UNKNOWN so that peers can add message
 * types without breaking old receivers, exactly as Visly State's client
 * ignores them. Fields we do not know are ignored in both cases.
 */
#include "patchwire/msg.h"

#include <string.h>

static const char *const type_names[] = {
    [PW_MSG_UNKNOWN] = "unknown", [PW_MSG_FULLSYNC] = "fullsync", [PW_MSG_PATCHES] = "patches",
    [PW_MSG_ACK] = "ack",         [PW_MSG_ERROR] = "error",       [PW_MSG_RESYNC] = "resync",
};
#define NTYPES (sizeof type_names / sizeof type_names[0])

/* What each known type has. */
enum { F_KEY = 1, F_KEY_OPT = 2, F_DATA = 4, F_SEQ = 8, F_BASE = 16 };
static const unsigned type_fields[NTYPES] = {
    [PW_MSG_FULLSYNC] = F_KEY | F_DATA,
    [PW_MSG_PATCHES] = F_KEY | F_DATA | F_BASE,
    [PW_MSG_ACK] = F_KEY | F_SEQ,
    [PW_MSG_ERROR] = F_KEY_OPT,
    [PW_MSG_RESYNC] = F_KEY,
};

void pw_msg_init(pw_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = PW_MSG_UNKNOWN;
    m->type_name = pw_null();
    m->key = pw_null();
    m->id = pw_null();
    m->data = pw_null();
    pw_patches_init(&m->patches, PW_DIALECT_IMMER);
}

void pw_msg_clear(pw_msg *m)
{
    pw_value_release(&m->type_name);
    pw_value_release(&m->key);
    pw_value_release(&m->id);
    pw_value_release(&m->data);
    pw_patches_clear(&m->patches);
    pw_msg_init(m);
}

const char *pw_msg_type_name(pw_msg_type t)
{
    return (unsigned)t < NTYPES ? type_names[t] : "invalid";
}

static const pw_value *field(const pw_value *v, const char *name)
{
    return pw_object_get(v, name, strlen(name));
}

static pw_msg_type type_of(const pw_value *type)
{
    for (pw_msg_type t = PW_MSG_FULLSYNC; t < (pw_msg_type)NTYPES; t++)
        if (pw_value_str_eq(type, type_names[t], strlen(type_names[t])))
            return t;
    return PW_MSG_UNKNOWN;
}

static bool uint_valid(const pw_value *v)
{
    return pw_value_kind(v) == PW_INT && pw_value_int(v) >= 0;
}

/* A message of a type we do not know: keep what can be kept, judge nothing. */
static pw_err read_unknown(const pw_value *v, pw_msg *m)
{
    const pw_value *key = field(v, "key"), *seq = field(v, "seq"), *data = field(v, "data");
    m->type = PW_MSG_UNKNOWN;
    if (key && pw_value_kind(key) == PW_STRING)
        m->key = pw_value_retain(*key);
    if (seq && uint_valid(seq)) {
        m->has_seq = true;
        m->seq = (uint64_t)pw_value_int(seq);
    }
    if (data)
        m->data = pw_value_retain(*data);
    return PW_OK;
}

/* Reads the optional non-negative integer `name` into *has / *out. */
static pw_err read_uint(const pw_value *v, const char *tn, const char *name, bool *has,
                        uint64_t *out, pw_error *err)
{
    const pw_value *f = field(v, name);
    if (!f)
        return PW_OK;
    if (!uint_valid(f)) {
        if (pw_value_kind(f) == PW_INT)
            return pw_error_set(err, PW_EMSG, "%s message: \"%s\" is negative (%lld)", tn, name,
                                (long long)pw_value_int(f));
        return pw_error_set(err, PW_EMSG, "%s message: \"%s\" is %s, not an integer", tn, name,
                            pw_kind_phrase(pw_value_kind(f)));
    }
    *has = true;
    *out = (uint64_t)pw_value_int(f);
    return PW_OK;
}

static pw_err read_id(const pw_value *v, const char *tn, pw_msg *m, pw_error *err)
{
    const pw_value *id = field(v, "id");
    if (!id)
        return PW_OK;
    size_t n = 0;
    if (pw_value_str(id, &n) ? n > PW_MSG_ID_MAX : !uint_valid(id))
        return pw_error_set(err, PW_EMSG,
                            "%s message: \"id\" must be a string of at most %d bytes or a "
                            "non-negative integer",
                            tn, PW_MSG_ID_MAX);
    m->id = pw_value_retain(*id);
    return PW_OK;
}

static pw_err read_key(const pw_value *v, const char *tn, unsigned has, pw_msg *m, pw_error *err)
{
    const pw_value *key = field(v, "key");
    if (!key) {
        if (has & F_KEY_OPT)
            return PW_OK;
        return pw_error_set(err, PW_EMSG, "%s message: missing \"key\"", tn);
    }
    if (pw_value_kind(key) != PW_STRING)
        return pw_error_set(err, PW_EMSG, "%s message: \"key\" is %s, not a string", tn,
                            pw_kind_phrase(pw_value_kind(key)));
    size_t klen;
    pw_value_str(key, &klen);
    if (klen == 0)
        return pw_error_set(err, PW_EMSG, "%s message: \"key\" is empty", tn);
    m->key = pw_value_retain(*key);
    return PW_OK;
}

static pw_err read_known(const pw_value *v, pw_msg_type t, pw_msg *m, pw_error *err)
{
    const char *tn = type_names[t];
    unsigned has = type_fields[t];
    pw_err rc = read_key(v, tn, has, m, err);
    if (!rc)
        rc = read_uint(v, tn, "seq", &m->has_seq, &m->seq, err);
    if (!rc && (has & F_SEQ) && !m->has_seq)
        rc = pw_error_set(err, PW_EMSG, "%s message: missing \"seq\"", tn);
    if (!rc && (has & F_BASE))
        rc = read_uint(v, tn, "base", &m->has_base, &m->base, err);
    if (!rc)
        rc = read_id(v, tn, m, err);
    if (rc)
        return rc;
    const pw_value *data = field(v, "data");
    if ((has & F_DATA) && !data)
        return pw_error_set(err, PW_EMSG, "%s message: missing \"data\"", tn);
    if (t == PW_MSG_PATCHES) {
        if (pw_value_kind(data) != PW_ARRAY)
            return pw_error_set(err, PW_EMSG, "patches message: \"data\" is %s, not an array",
                                pw_kind_phrase(pw_value_kind(data)));
        rc = pw_patches_from_value(data, &m->patches, err);
        if (rc)
            return rc;
    } else if (data && t != PW_MSG_ACK && t != PW_MSG_RESYNC) {
        m->data = pw_value_retain(*data);
    }
    m->type = t;
    return PW_OK;
}

pw_err pw_msg_from_value(const pw_value *v, pw_msg *m, pw_error *err)
{
    pw_msg_init(m);
    pw_error_clear(err);
    if (pw_value_kind(v) != PW_OBJECT)
        return pw_error_set(err, PW_EMSG, "message is %s, not an object",
                            pw_kind_phrase(pw_value_kind(v)));
    const pw_value *type = field(v, "type");
    if (!type)
        return pw_error_set(err, PW_EMSG, "message: missing \"type\"");
    if (pw_value_kind(type) != PW_STRING)
        return pw_error_set(err, PW_EMSG, "message: \"type\" is %s, not a string",
                            pw_kind_phrase(pw_value_kind(type)));
    pw_msg_type t = type_of(type);
    m->type_name = pw_value_retain(*type);
    pw_err rc = t == PW_MSG_UNKNOWN ? read_unknown(v, m) : read_known(v, t, m, err);
    if (rc)
        pw_msg_clear(m);
    return rc;
}

const char *pw_msg_error_text(const pw_msg *m, size_t *len)
{
    const pw_value *t = pw_object_get(&m->data, "message", 7);
    const char *s = t ? pw_value_str(t, len) : NULL;
    if (!s) {
        s = "";
        if (len)
            *len = 0;
    }
    return s;
}

pw_err pw_msg_set_error_text(pw_msg *m, const char *text)
{
    pw_value data, s;
    pw_err rc = pw_object_new(&data, 1);
    if (rc)
        return rc;
    rc = pw_string_cstr(&s, text);
    if (!rc)
        rc = pw_object_set_str(&data, "message", 7, s, NULL);
    if (rc) {
        pw_value_release(&data);
        return rc;
    }
    pw_value_release(&m->data);
    m->data = data;
    return PW_OK;
}

/* Appends name: v to obj, taking ownership of v. */
static pw_err put(pw_value *obj, const char *name, pw_value v)
{
    return pw_object_set_str(obj, name, strlen(name), v, NULL);
}

pw_err pw_msg_to_value(const pw_msg *m, pw_value *out)
{
    *out = pw_null();
    if ((m->has_seq && m->seq > (uint64_t)INT64_MAX) || (m->has_base && m->base > (uint64_t)INT64_MAX))
        return PW_EINVAL;
    if ((unsigned)m->type >= NTYPES)
        return PW_EINVAL;
    unsigned has = type_fields[m->type];
    size_t klen = 0;
    if ((has & F_KEY) && (!pw_value_str(&m->key, &klen) || klen == 0))
        return PW_EINVAL;
    if ((has & F_SEQ) && !m->has_seq)
        return PW_EINVAL;
    pw_value type;
    pw_err rc;
    if (m->type != PW_MSG_UNKNOWN)
        rc = pw_string_cstr(&type, type_names[m->type]);
    else if (pw_value_kind(&m->type_name) == PW_STRING)
        type = pw_value_retain(m->type_name), rc = PW_OK;
    else
        return PW_EINVAL;
    if (rc)
        return rc;

    pw_value data = pw_null();
    if (m->type == PW_MSG_PATCHES)
        rc = pw_patches_to_value(&m->patches, &data);
    else
        data = pw_value_retain(m->data);
    if (rc) {
        pw_value_release(&type);
        return rc;
    }

    pw_value obj;
    rc = pw_object_new(&obj, 4);
    if (rc) {
        pw_value_release(&type);
        pw_value_release(&data);
        return rc;
    }
    rc = put(&obj, "type", type);
    if (!rc && pw_value_kind(&m->key) == PW_STRING)
        rc = put(&obj, "key", pw_value_retain(m->key));
    if (!rc && m->has_seq)
        rc = put(&obj, "seq", pw_int((int64_t)m->seq));
    if (!rc && m->has_base && m->type == PW_MSG_PATCHES)
        rc = put(&obj, "base", pw_int((int64_t)m->base));
    if (!rc && pw_value_kind(&m->id) != PW_NULL)
        rc = put(&obj, "id", pw_value_retain(m->id));
    /* fullsync and patches always have data; the others only when set */
    bool omit = !(has & F_DATA) && pw_value_kind(&data) == PW_NULL;
    if (rc || omit)
        pw_value_release(&data);
    else
        rc = put(&obj, "data", data);
    if (rc) {
        pw_value_release(&obj);
        return rc;
    }
    *out = obj;
    return PW_OK;
}
