//! Every string the inbox's terminal UI shows, in English and in French, in one table, and the
//! choice between them from the locale (`LC_ALL`, then `LC_MESSAGES`, then `LANG`: `fr…` is
//! French, anything else English), as the C library reads it.
//!
//! Templates hold `{1}`, `{2}`… where [`fill`] puts values. What the source chose (names,
//! messages) is never part of a template: it is escaped before it reaches these strings.

/// The UI's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// The language the locale asks for: the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is
    /// set and not empty decides.
    pub fn from_env() -> Lang {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let locale = var("LC_ALL")
            .or_else(|| var("LC_MESSAGES"))
            .or_else(|| var("LANG"));
        Lang::from_locale(locale.as_deref().unwrap_or(""))
    }

    /// `fr`, `fr_FR.UTF-8`, `fr_CA`… are French; anything else English.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.starts_with("fr") {
            Lang::Fr
        } else {
            Lang::En
        }
    }

    pub(crate) fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// Puts `args[0]` where `{1}` is, `args[1]` where `{2}` is, and so on.
pub(crate) fn fill(template: &str, args: &[&str]) -> String {
    let mut out = template.to_owned();
    for (i, a) in args.iter().enumerate() {
        out = out.replace(&format!("{{{}}}", i + 1), a);
    }
    out
}

/// The strings of one language.
pub(crate) struct Text {
    pub(crate) title_sources: &'static str,
    pub(crate) empty_inbox: &'static str,
    /// `{1}` submissions, `{2}` unseen, `{3}` last sequence number.
    pub(crate) source_row: &'static str,
    pub(crate) hints_sources: &'static str,
    /// `{1}` designation.
    pub(crate) title_thread: &'static str,
    pub(crate) starred: &'static str,
    pub(crate) untrusted: &'static str,
    /// `{1}` sequence, `{2}` day received.
    pub(crate) submission: &'static str,
    pub(crate) new: &'static str,
    /// `{1}` sequence, `{2}` why.
    pub(crate) unreadable: &'static str,
    pub(crate) no_message: &'static str,
    pub(crate) source_wrote: &'static str,
    /// `{1}` name, `{2}` type, `{3}` size in bytes.
    pub(crate) file: &'static str,
    /// `{1}` the box's number of the reply (the counter submissions share, so `#3` names one
    /// thing in the box), `{2}` author. The number names the reply; what it answers places it.
    pub(crate) reply: &'static str,
    /// `{1}` the box's number of the reply, `{2}` why it is not shown (not signed by a pinned
    /// reviewer for this source, or unreadable).
    pub(crate) reply_refused: &'static str,
    /// `{1}` a warning about a reply's place (given twice, answering what is not held).
    pub(crate) reply_warning: &'static str,
    /// `{1}` the fingerprint of the source's pinned key (eight groups of four hex digits).
    pub(crate) key_fingerprint: &'static str,
    pub(crate) key_not_pinned: &'static str,
    pub(crate) not_sent: &'static str,
    pub(crate) hints_thread: &'static str,
    /// `{1}` a metadata finding.
    pub(crate) metadata: &'static str,
    /// `{1}` why opening the file could run code (metadata/risk.rs, in English).
    pub(crate) risky: &'static str,
    pub(crate) no_metadata: &'static str,
    /// `{1}` MiB.
    pub(crate) too_large_to_check: &'static str,
    /// `{1}` why.
    pub(crate) cannot_read: &'static str,
    pub(crate) note: &'static str,
    pub(crate) listed_twice: &'static str,
    /// `{1}` query.
    pub(crate) title_search: &'static str,
    pub(crate) search_prompt: &'static str,
    pub(crate) no_hits: &'static str,
    /// `{1}` designation, `{2}` sequence, `{3}` the message line.
    pub(crate) hit: &'static str,
    pub(crate) hints_search: &'static str,
    /// `{1}` designation.
    pub(crate) title_reply: &'static str,
    pub(crate) hints_reply: &'static str,
    pub(crate) export_prompt: &'static str,
    pub(crate) title_help: &'static str,
    pub(crate) help: &'static [&'static str],
    pub(crate) hints_help: &'static str,
    /// Status lines. `{1}` designation.
    pub(crate) st_starred: &'static str,
    pub(crate) st_unstarred: &'static str,
    /// `{1}` path.
    pub(crate) st_sent: &'static str,
    pub(crate) st_cancelled: &'static str,
    pub(crate) st_empty_reply: &'static str,
    pub(crate) st_too_long: &'static str,
    pub(crate) st_not_a_file: &'static str,
    /// `{1}` path.
    pub(crate) st_exported: &'static str,
    /// `{1}` path, `{2}` number of findings.
    pub(crate) st_exported_metadata: &'static str,
    /// `{1}` number of hits.
    pub(crate) st_hits: &'static str,
    /// `{1}` error.
    pub(crate) st_error: &'static str,
    pub(crate) st_editor_failed: &'static str,
}

static EN: Text = Text {
    title_sources: "lanterne inbox: sources, newest activity first",
    empty_inbox: "The inbox is empty: run `review import BUNDLE --identity FILE` first.",
    source_row: "{1} submission(s), {2} unseen, last #{3}",
    hints_sources: "↑↓ move  Enter open  s star  / search  ? help  q quit",
    title_thread: "Conversation with {1}",
    starred: " (starred)",
    untrusted: "Names, types and messages come from the source: shown escaped.",
    submission: "#{1} submission, received {2}",
    new: " [new]",
    unreadable: "#{1} submission: CANNOT BE READ: {2}",
    no_message: "  (no message)",
    source_wrote: "  The source wrote:",
    file: "  file: {1}, {2}, {3} bytes",
    reply: "reply #{1} by {2}",
    reply_refused: "reply #{1}: WARNING, NOT SHOWN: {2}. The server may be compromised: keep \
                    the bundle and tell the team",
    reply_warning: "  WARNING: {1}",
    key_fingerprint: "Key fingerprint: {1} (compare it with the other reviewers)",
    key_not_pinned: "Key fingerprint: none yet (this machine has not pinned the source's key)",
    not_sent: "your reply: not sent yet (run `lanterne push`)",
    hints_thread: "↑↓ move  r reply  e editor  x export  s star  Esc back  ? help",
    metadata: "    metadata: {1}",
    risky: "    RISKY: {1}",
    no_metadata: "    no identifying metadata found",
    too_large_to_check: "    larger than {1} MiB: metadata is checked when exported",
    cannot_read: "    CANNOT BE READ: {1}",
    note: "    note: {1}",
    listed_twice: "    the manifest lists its ciphertext twice; shown once",
    title_search: "Search results for {1}",
    search_prompt: "Search the messages: ",
    no_hits: "No message holds this text.",
    hit: "{1} #{2}: {3}",
    hints_search: "↑↓ move  Enter open the source  Esc back",
    title_reply: "Reply to {1} (encrypted to the source and the team, signed)",
    hints_reply: "Type the reply. Enter: new line  Ctrl-D: send  Esc: cancel",
    export_prompt: "Export the file into folder: ",
    title_help: "Help: keys",
    help: &[
        "Source list",
        "  ↑ ↓ / k j   move",
        "  Enter       open the source's conversation (marks it seen)",
        "  s           star or unstar the source",
        "  /           search the decrypted messages of every source",
        "  q / Esc     quit",
        "Conversation",
        "  r           write a reply here (Ctrl-D sends, Esc cancels)",
        "  e           write the reply in $EDITOR (a private temp file, removed after)",
        "  x           export the selected file into a folder (never overwrites)",
        "  q / Esc     back to the list",
        "Replies go to the outgoing folder; `lanterne push` sends them.",
        "The inbox never opens a file itself: check the warnings before opening an",
        "exported file, on this offline machine.",
    ],
    hints_help: "Esc or q: back",
    st_starred: "starred {1}",
    st_unstarred: "unstarred {1}",
    st_sent: "reply encrypted and signed: {1}; `lanterne push` sends it",
    st_cancelled: "cancelled: nothing written",
    st_empty_reply: "the reply is empty: nothing written",
    st_too_long: "the reply is at its size limit (1 MiB)",
    st_not_a_file: "select a file first (↑↓), then x",
    st_exported: "exported to {1}; no identifying metadata found",
    st_exported_metadata: "exported to {1}; WARNING: {2} metadata finding(s), see the file's lines",
    st_hits: "{1} match(es)",
    st_error: "error: {1}",
    st_editor_failed: "the editor failed; nothing written",
};

static FR: Text = Text {
    title_sources: "boîte lanterne : sources, activité la plus récente d'abord",
    empty_inbox: "La boîte est vide : lancez d'abord `review import LOT --identity FICHIER`.",
    source_row: "{1} envoi(s), {2} non lu(s), dernier n°{3}",
    hints_sources: "↑↓ choisir  Entrée ouvrir  s étoile  / chercher  ? aide  q quitter",
    title_thread: "Conversation avec {1}",
    starred: " (étoilée)",
    untrusted: "Textes venus de la source : caractères de contrôle neutralisés.",
    submission: "Envoi n°{1}, reçu le {2}",
    new: " [nouveau]",
    unreadable: "Envoi n°{1} : ILLISIBLE : {2}",
    no_message: "  (pas de message)",
    source_wrote: "  La source a écrit :",
    file: "  fichier : {1}, {2}, {3} octets",
    reply: "réponse n°{1} de {2}",
    reply_refused: "réponse n°{1} : ATTENTION, NON AFFICHÉE : {2}. Le serveur est peut-être \
                    compromis : gardez le paquet et prévenez l'équipe",
    reply_warning: "  ATTENTION : {1}",
    key_fingerprint: "Empreinte de la clé : {1} (comparez-la avec les autres membres de l'équipe)",
    key_not_pinned: "Empreinte de la clé : aucune (clé de la source pas encore enregistrée ici)",
    not_sent: "votre réponse : pas encore envoyée (lancez `lanterne push`)",
    hints_thread: "↑↓ choisir  r répondre  e éditeur  x exporter  s étoile  Échap retour",
    metadata: "    métadonnées : {1}",
    risky: "    RISQUÉ : {1}",
    no_metadata: "    aucune métadonnée identifiante trouvée",
    too_large_to_check: "    plus de {1} Mio : métadonnées vérifiées à l'export",
    cannot_read: "    ILLISIBLE : {1}",
    note: "    remarque : {1}",
    listed_twice: "    le manifeste cite deux fois ce chiffré ; montré une fois",
    title_search: "Résultats pour {1}",
    search_prompt: "Chercher dans les messages : ",
    no_hits: "Aucun message ne contient ce texte.",
    hit: "{1} n°{2} : {3}",
    hints_search: "↑↓ choisir  Entrée ouvrir la source  Échap retour",
    title_reply: "Réponse à {1} (chiffrée pour la source et l'équipe, signée)",
    hints_reply: "Tapez la réponse. Entrée : ligne  Ctrl-D : envoyer  Échap : annuler",
    export_prompt: "Exporter le fichier dans le dossier : ",
    title_help: "Aide : touches",
    help: &[
        "Liste des sources",
        "  ↑ ↓ / k j   choisir",
        "  Entrée      ouvrir la conversation (la marque comme lue)",
        "  s           mettre ou ôter l'étoile",
        "  /           chercher dans les messages déchiffrés de toutes les sources",
        "  q / Échap   quitter",
        "Conversation",
        "  r           écrire une réponse ici (Ctrl-D envoie, Échap annule)",
        "  e           écrire la réponse dans $EDITOR (fichier temporaire privé, effacé)",
        "  x           exporter le fichier choisi dans un dossier (sans rien écraser)",
        "  q / Échap   retour à la liste",
        "Les réponses vont dans le dossier sortant ; `lanterne push` les envoie.",
        "La boîte n'ouvre jamais un fichier : lisez les avertissements avant d'ouvrir",
        "un fichier exporté, sur cette machine hors ligne.",
    ],
    hints_help: "Échap ou q : retour",
    st_starred: "{1} étoilée",
    st_unstarred: "{1} sans étoile",
    st_sent: "réponse chiffrée et signée : {1} ; `lanterne push` l'envoie",
    st_cancelled: "annulé : rien n'a été écrit",
    st_empty_reply: "la réponse est vide : rien n'a été écrit",
    st_too_long: "la réponse a atteint sa taille maximale (1 Mio)",
    st_not_a_file: "choisissez d'abord un fichier (↑↓), puis x",
    st_exported: "exporté dans {1} ; aucune métadonnée identifiante trouvée",
    st_exported_metadata: "exporté dans {1} ; ATTENTION : {2} métadonnée(s), voir le fichier",
    st_hits: "{1} résultat(s)",
    st_error: "erreur : {1}",
    st_editor_failed: "l'éditeur a échoué ; rien n'a été écrit",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_picks_french_for_fr_only() {
        assert_eq!(Lang::from_locale("fr_FR.UTF-8"), Lang::Fr);
        assert_eq!(Lang::from_locale("fr"), Lang::Fr);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("C"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
    }

    #[test]
    fn templates_are_filled_in_order() {
        assert_eq!(fill("{1} and {2}", &["a", "b"]), "a and b");
    }
}
