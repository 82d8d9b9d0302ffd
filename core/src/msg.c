/* msg.c - FullSync and Patches payloads read from and written to value trees.
 *
 * The one idea: a message is judged by its "type" first. A type we know is
 * validated strictly (key, seq, data), a type we do not know is accepted as
 * PW_MSG_UNKNOWN so that peers can add message types without breaking old
 * receivers, exactly as Visly State's client ignores them. Fields we do not
 * know are ignored in both cases.
 */
#include "patchwire/msg.h"

#include <string.h>

static const char *const type_names[] = {
    [PW_MSG_UNKNOWN] = "unknown",
    [PW_MSG_FULLSYNC] = "fullsync",
    [PW_MSG_PATCHES] = "patches",
};

void pw_msg_init(pw_msg *m)
{
    m->type = PW_MSG_UNKNOWN;
    m->type_name = pw_null();
    m->key = pw_null();
    m->has_seq = false;
    m->seq = 0;
    m->data = pw_null();
    pw_patches_init(&m->patches, PW_DIALECT_IMMER);
}

void pw_msg_clear(pw_msg *m)
{
    pw_value_release(&m->type_name);
    pw_value_release(&m->key);
    pw_value_release(&m->data);
    pw_patches_clear(&m->patches);
    pw_msg_init(m);
}

const char *pw_msg_type_name(pw_msg_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "invalid";
}

static const pw_value *field(const pw_value *v, const char *name)
{
    return pw_object_get(v, name, strlen(name));
}

static pw_msg_type type_of(const pw_value *type)
{
    for (pw_msg_type t = PW_MSG_FULLSYNC; t <= PW_MSG_PATCHES; t++)
        if (pw_value_str_eq(type, type_names[t], strlen(type_names[t])))
            return t;
    return PW_MSG_UNKNOWN;
}

static bool seq_valid(const pw_value *seq)
{
    return pw_value_kind(seq) == PW_INT && pw_value_int(seq) >= 0;
}

/* A message of a type we do not know: keep what can be kept, judge nothing. */
static pw_err read_unknown(const pw_value *v, const pw_value *type, pw_msg *m)
{
    const pw_value *key = field(v, "key"), *seq = field(v, "seq"), *data = field(v, "data");
    m->type = PW_MSG_UNKNOWN;
    m->type_name = pw_value_retain(*type);
    if (key && pw_value_kind(key) == PW_STRING)
        m->key = pw_value_retain(*key);
    if (seq && seq_valid(seq)) {
        m->has_seq = true;
        m->seq = (uint64_t)pw_value_int(seq);
    }
    if (data)
        m->data = pw_value_retain(*data);
    return PW_OK;
}

static pw_err read_known(const pw_value *v, pw_msg_type t, pw_msg *m, pw_error *err)
{
    const char *tn = type_names[t];
    const pw_value *key = field(v, "key"), *seq = field(v, "seq"), *data = field(v, "data");
    if (!key)
        return pw_error_set(err, PW_EMSG, "%s message: missing \"key\"", tn);
    if (pw_value_kind(key) != PW_STRING)
        return pw_error_set(err, PW_EMSG, "%s message: \"key\" is %s, not a string", tn,
                            pw_kind_phrase(pw_value_kind(key)));
    size_t klen;
    pw_value_str(key, &klen);
    if (klen == 0)
        return pw_error_set(err, PW_EMSG, "%s message: \"key\" is empty", tn);
    if (seq && !seq_valid(seq)) {
        if (pw_value_kind(seq) == PW_INT)
            return pw_error_set(err, PW_EMSG, "%s message: \"seq\" is negative (%lld)", tn,
                                (long long)pw_value_int(seq));
        return pw_error_set(err, PW_EMSG, "%s message: \"seq\" is %s, not an integer", tn,
                            pw_kind_phrase(pw_value_kind(seq)));
    }
    if (!data)
        return pw_error_set(err, PW_EMSG, "%s message: missing \"data\"", tn);
    if (t == PW_MSG_PATCHES) {
        if (pw_value_kind(data) != PW_ARRAY)
            return pw_error_set(err, PW_EMSG, "patches message: \"data\" is %s, not an array",
                                pw_kind_phrase(pw_value_kind(data)));
        pw_err rc = pw_patches_from_value(data, &m->patches, err);
        if (rc)
            return rc;
    } else {
        m->data = pw_value_retain(*data);
    }
    m->type = t;
    m->key = pw_value_retain(*key);
    if (seq) {
        m->has_seq = true;
        m->seq = (uint64_t)pw_value_int(seq);
    }
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
    pw_err rc = t == PW_MSG_UNKNOWN ? read_unknown(v, type, m) : read_known(v, t, m, err);
    if (rc)
        pw_msg_clear(m);
    return rc;
}

/* Appends name: v to obj, taking ownership of v. */
static pw_err put(pw_value *obj, const char *name, pw_value v)
{
    return pw_object_set_str(obj, name, strlen(name), v, NULL);
}

pw_err pw_msg_to_value(const pw_msg *m, pw_value *out)
{
    *out = pw_null();
    if (m->has_seq && m->seq > (uint64_t)INT64_MAX)
        return PW_EINVAL;
    pw_value type;
    pw_err rc;
    if (m->type == PW_MSG_FULLSYNC || m->type == PW_MSG_PATCHES) {
        size_t klen = 0;
        if (!pw_value_str(&m->key, &klen) || klen == 0)
            return PW_EINVAL;
        rc = pw_string_cstr(&type, type_names[m->type]);
        if (rc)
            return rc;
    } else if (m->type == PW_MSG_UNKNOWN && pw_value_kind(&m->type_name) == PW_STRING) {
        type = pw_value_retain(m->type_name);
    } else {
        return PW_EINVAL;
    }

    pw_value data = pw_null();
    rc = m->type == PW_MSG_PATCHES ? pw_patches_to_value(&m->patches, &data) : PW_OK;
    if (rc) {
        pw_value_release(&type);
        return rc;
    }
    if (m->type != PW_MSG_PATCHES)
        data = pw_value_retain(m->data);

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
    /* an unknown type's absent data reads as null: write it back absent */
    bool omit = m->type == PW_MSG_UNKNOWN && pw_value_kind(&data) == PW_NULL;
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
