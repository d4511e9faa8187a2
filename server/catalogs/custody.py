"""Messages about the custody log: signing keys, checkpoints and `fullrecord custody verify`."""

_KEYGEN = "`fullrecord custody keygen`"

MESSAGES: dict[str, dict[str, str]] = {
    # -- signing keys (storage/signing.py) --
    "custody.key_missing": {
        "zh-CN": f"托管签名密钥文件 {{path}} 不存在。请用 {_KEYGEN} 生成（或将 custody.signing_key / "
                 "FULLRECORD_CUSTODY_SIGNING_KEY 指向已有密钥）。",
        "en": f"The custody signing key {{path}} does not exist. Create it with {_KEYGEN} (or point "
              "custody.signing_key / FULLRECORD_CUSTODY_SIGNING_KEY at an existing key).",
    },
    "custody.key_unreadable": {
        "zh-CN": "无法读取托管签名密钥 {path}：{reason}。请检查文件属主和权限（应由运行 fullrecord 的用户可读，权限 0600）。",
        "en": "Cannot read the custody signing key {path}: {reason}. Check its owner and permissions "
              "(readable by the user that runs fullrecord, mode 0600).",
    },
    "custody.key_encrypted": {
        "zh-CN": f"托管签名密钥 {{path}} 已加密，fullrecord 需要未加密、权限 0600 的密钥文件。请用 {_KEYGEN} 生成。",
        "en": f"The custody signing key {{path}} is encrypted; fullrecord needs an unencrypted key file "
              f"with mode 0600. Make one with {_KEYGEN}.",
    },
    "custody.key_invalid": {
        "zh-CN": f"{{path}} 不是 PEM 格式的 Ed25519 私钥（{{reason}}）。请用 {_KEYGEN} 生成新密钥。",
        "en": f"{{path}} is not an Ed25519 private key in PEM format ({{reason}}). Make a key with {_KEYGEN}.",
    },
    "custody.key_not_ed25519": {
        "zh-CN": f"{{path}} 是 {{kind}} 密钥，托管检查点需要 Ed25519 密钥。请用 {_KEYGEN} 生成。",
        "en": f"{{path}} holds a {{kind}} key; custody checkpoints need an Ed25519 key. Make one with {_KEYGEN}.",
    },
    "custody.trusted_key_missing": {
        "zh-CN": "custody.trusted_keys 中的公钥文件 {path} 不存在。",
        "en": "The public key {path} listed in custody.trusted_keys does not exist.",
    },
    "custody.trusted_key_unreadable": {
        "zh-CN": "无法读取 custody.trusted_keys 中的公钥文件 {path}：{reason}。",
        "en": "Cannot read the public key {path} listed in custody.trusted_keys: {reason}.",
    },
    "custody.trusted_key_invalid": {
        "zh-CN": "custody.trusted_keys 中的 {path} 不是 PEM 格式的 Ed25519 公钥（{reason}）。",
        "en": "{path} in custody.trusted_keys is not an Ed25519 public key in PEM format ({reason}).",
    },
    # -- verify: the first problem found (storage/custody_chain.py, storage/custody_verify.py) --
    "custody.verify.missing": {
        "zh-CN": "序号 {seq} 缺失（被删除？）",
        "en": "seq {seq} missing (deleted?)",
    },
    "custody.verify.missing_range": {
        "zh-CN": "序号 {seq}–{last} 缺失（被删除？）",
        "en": "seqs {seq}–{last} missing (deleted?)",
    },
    "custody.verify.edited": {
        "zh-CN": "序号 {seq}：哈希与内容不符（被修改？）",
        "en": "seq {seq}: hash does not match its contents (edited?)",
    },
    "custody.verify.unlinked": {
        "zh-CN": "序号 {seq}：prev_hash 与序号 {previous} 不符（有插入、删除或调序？）",
        "en": "seq {seq}: prev_hash does not match seq {previous} (inserted, deleted or reordered?)",
    },
    "custody.verify.not_genesis": {
        "zh-CN": "序号 {seq}：prev_hash 不是链的起点（前面有删除？）",
        "en": "seq {seq}: prev_hash is not the start of the chain (events before it deleted?)",
    },
    "custody.verify.misplaced": {
        "zh-CN": "序号 {seq}：哈希与内容不符，prev_hash 也与序号 {previous} 不符（调序、插入或替换？）",
        "en": "seq {seq}: neither its hash nor its prev_hash fits after seq {previous} (reordered, inserted or replaced?)",
    },
    "custody.verify.cp_no_copy": {
        "zh-CN": "检查点 {checkpoint}：对象存储中缺少其签名副本 {object}",
        "en": "checkpoint {checkpoint}: its signed copy {object} is missing from the object store",
    },
    "custody.verify.cp_row_deleted": {
        "zh-CN": "检查点 {checkpoint}：数据库中的记录被删除（签名副本 {object} 仍在对象存储中）",
        "en": "checkpoint {checkpoint}: its database row was deleted (the signed copy {object} is in the object store)",
    },
    "custody.verify.cp_malformed": {
        "zh-CN": "检查点 {checkpoint}：签名副本 {object} 格式无效（{detail}）",
        "en": "checkpoint {checkpoint}: its signed copy {object} is malformed ({detail})",
    },
    "custody.verify.cp_signature": {
        "zh-CN": "检查点 {checkpoint}：签名无效",
        "en": "checkpoint {checkpoint}: signature invalid",
    },
    "custody.verify.cp_untrusted": {
        "zh-CN": "检查点 {checkpoint}：签名密钥 {key_id} 不受信任（若是本机已轮换的旧密钥，请把其公钥加入 custody.trusted_keys）",
        "en": "checkpoint {checkpoint}: signed by key {key_id}, which is not trusted (a retired key of yours? "
              "add its public key to custody.trusted_keys)",
    },
    "custody.verify.cp_row_differs": {
        "zh-CN": "检查点 {checkpoint}：数据库记录与对象存储中的签名副本不一致（{fields}）（被篡改？）",
        "en": "checkpoint {checkpoint}: its database row differs from the signed copy in the object store "
              "({fields}) (altered?)",
    },
    "custody.verify.cp_head": {
        "zh-CN": "检查点 {checkpoint}：头哈希与序号 {checkpoint} 不符：签名之后，序号 {checkpoint} 及之前的事件被改写",
        "en": "checkpoint {checkpoint}: head hash does not match seq {checkpoint}: the log up to seq "
              "{checkpoint} was rewritten after it was signed",
    },
    "custody.verify.cp_root": {
        "zh-CN": "检查点 {checkpoint}：Merkle 根与序号 1–{checkpoint} 的事件不符：签名之后有事件被改写",
        "en": "checkpoint {checkpoint}: Merkle root does not match events 1–{checkpoint}: an event was "
              "rewritten after it was signed",
    },
    "custody.verify.cp_frontier": {
        "zh-CN": "检查点 {checkpoint}：数据库中保存的 Merkle 前沿与事件不符（被篡改？）",
        "en": "checkpoint {checkpoint}: its stored Merkle frontier does not match the events (altered?)",
    },
    "custody.verify.cp_store_conflict": {
        "zh-CN": "检查点 {checkpoint}：对象存储中的签名副本 {object} 与日志不符",
        "en": "checkpoint {checkpoint}: the signed copy {object} in the object store does not match the log",
    },
    "custody.verify.truncated": {
        "zh-CN": "日志止于序号 {last}，但检查点 {count} 覆盖了 {count} 个事件（末尾被删除？）",
        "en": "log ends at {last} but checkpoint {count} covers {count} events (deleted tail?)",
    },
    "custody.verify.cp_unrecorded": {
        "zh-CN": "检查点 {checkpoint} 在对象存储中（{object}）但尚未记入数据库（写入时中断；下一个检查点会补记）",
        "en": "checkpoint {checkpoint} is in the object store ({object}) but not yet in the database "
              "(interrupted while written; the next checkpoint records it)",
    },
    "custody.verify.unsigned_tail": {
        "zh-CN": "检查点 {count} 之后的 {events} 个事件尚无签名检查点覆盖",
        "en": "{events} events after checkpoint {count} are not yet covered by a signed checkpoint",
    },
    # -- the CLI (server/cli_custody.py) --
    "custody.cli.progress": {"zh-CN": "核验托管日志", "en": "verifying the custody log"},
    "custody.cli.intact": {
        "zh-CN": "托管日志完好：已核验 {events} 个事件、{checkpoints} 个签名检查点（最后序号 {last}）。",
        "en": "custody log intact: {events} events and {checkpoints} signed checkpoints checked (last seq {last}).",
    },
    "custody.cli.broken": {
        "zh-CN": "托管日志不完整：首个问题在序号 {seq}：{reason}",
        "en": "custody log NOT intact: first bad seq {seq}: {reason}",
    },
    "custody.cli.cannot_verify": {
        "zh-CN": "无法核验：{reason}",
        "en": "cannot verify: {reason}",
    },
    "custody.cli.key_exists": {
        "zh-CN": "{path} 已存在（密钥 {key_id}），未覆盖。如需更换密钥请加 --force（旧公钥会保存下来，供 custody.trusted_keys 使用）。",
        "en": "{path} already exists (key {key_id}) and was not replaced. Use --force to replace it (the old "
              "public key is then kept for custody.trusted_keys).",
    },
    "custody.cli.key_made": {
        "zh-CN": "已生成托管签名密钥 {path}（权限 0600），公钥 {public}。密钥 ID：",
        "en": "Made the custody signing key {path} (mode 0600), public key {public}. Key id:",
    },
    "custody.cli.key_retired": {
        "zh-CN": "旧密钥 {key_id} 的公钥已保存到 {public}：请把它加入 custody.trusted_keys，其签名的检查点才能继续核验。",
        "en": "The old key {key_id}'s public key is kept in {public}: add it to custody.trusted_keys so the "
              "checkpoints it signed stay verifiable.",
    },
    "custody.cli.checkpoint_made": {
        "zh-CN": "已生成检查点 {count}（密钥 {key_id}），签名副本存于 {object}。",
        "en": "Checkpoint {count} signed by key {key_id}, stored at {object}.",
    },
    "custody.cli.checkpoint_none": {
        "zh-CN": "自检查点 {count} 以来没有新的托管事件，无需签名。",
        "en": "No new custody events since checkpoint {count}; nothing to sign.",
    },
    "custody.cli.checkpoint_refused": {
        "zh-CN": "拒绝签名：{reason}。请运行 `fullrecord custody verify`。",
        "en": "Refusing to sign: {reason}. Run `fullrecord custody verify`.",
    },
}
