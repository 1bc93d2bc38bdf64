# lanterne : textes français des pages pour les sources. Chaque identifiant existe aussi dans en.ftl.

site-name = Boîte de dépôt sécurisée
lang-switch = Langue
nav-home = Retour à l'accueil
nav-form = Revenir au formulaire
nav-login = Saisir mon code
nav-logout = Se déconnecter
notice-code-works = Votre code n’a pas changé : gardez-le, inutile d’en demander un nouveau.
footer-no-js = Ce site fonctionne sans JavaScript. Pour votre sécurité, gardez Tor Browser sur le niveau « Le plus sûr ».

index-title = Transmettre des documents en sécurité
index-lead = Vous pouvez nous envoyer ici des documents et un message, puis revenir plus tard lire nos réponses. Vous n'avez pas à donner votre nom.
index-what-title = Ce que deviennent vos envois
index-what-encrypted = Tout ce que vous envoyez est chiffré dès son arrivée, avant d’être enregistré. Ce serveur n’en garde que des copies chiffrées et ne détient aucune clé pour les ouvrir.
index-what-offline = Seules les personnes de notre équipe chargées de lire vos envois peuvent les ouvrir, sur un ordinateur qui n'est jamais connecté à Internet.
index-what-nothing-kept = Nous ne gardons ni votre adresse IP, ni les informations de votre navigateur, ni l'heure exacte de votre visite.
index-what-code = Vous recevrez un code secret. C'est le seul moyen de revenir lire nos réponses.
index-safety-title = Avant de commencer
index-safety-tor = Utilisez Tor Browser, réglé sur « Le plus sûr » (icône du bouclier, puis Paramètres).
index-safety-device = Utilisez un appareil personnel, jamais celui de votre travail.
index-safety-network = N'utilisez pas le réseau ni le Wi-Fi de votre lieu de travail.
index-safety-metadata = Un document peut contenir des informations cachées (auteur, appareil, lieu). Retirez-les si vous le pouvez ; nous vérifierons aussi.
index-start = Obtenir un code et envoyer des documents
index-returning = J'ai déjà un code
index-back-to-form = Vous utilisez déjà votre code : revenir à votre formulaire

code-title = Votre code secret
code-lead = Notez ce code maintenant, sur papier, et gardez-le en lieu sûr :
code-write-down = Il vous servira à lire nos réponses ou à envoyer d'autres documents.
code-shown-once = Il ne sera plus jamais affiché. Ne l'enregistrez pas sur un appareil professionnel.
code-no-recovery = Personne, pas même nous, ne peut le retrouver pour vous.

submit-title = Envoyer des documents ou un message
submit-more-title = Envoyer autre chose
submit-lead = Choisissez des fichiers, écrivez un message, ou les deux.
submit-read-replies = Lire nos réponses (votre code vous sera demandé)
form-files-label = Documents
form-files-hint = Jusqu'à { $files } fichiers.
form-size-hint = Jusqu’à { $size } au total.
form-message-label = Message
form-either-hint = Dites-nous ce que contiennent ces documents et pourquoi ils sont importants. Une connexion lente ne pose pas de problème : gardez cette page ouverte jusqu'à la confirmation.
form-send = Envoyer

submitted-title = Bien reçu, merci
submitted-body = { $files ->
    [0] Votre message est bien arrivé et a été chiffré.
    [one] Votre fichier est bien arrivé et a été chiffré.
   *[other] Vos { $files } fichiers sont bien arrivés et ont été chiffrés.
}
submitted-body-with-message = { $files ->
    [0] Votre message est bien arrivé et a été chiffré.
    [one] Votre fichier et votre message sont bien arrivés et ont été chiffrés.
   *[other] Vos { $files } fichiers et votre message sont bien arrivés et ont été chiffrés.
}
submitted-come-back = Revenez dans quelques jours avec votre code pour lire notre réponse.
submitted-logout = Quand vous avez fini, déconnectez-vous puis utilisez « Nouvelle identité » dans Tor Browser.
submitted-more = Envoyer autre chose

login-title = Revenir avec votre code
login-code-label = Votre code
login-code-hint = Tapez les mots séparés par des espaces. Majuscules et accents n'ont pas d'importance.
login-send = Continuer
login-new = Je n'ai pas encore de code
login-failed = Cela n'a pas fonctionné. Vérifiez votre code et réessayez.
login-unknown-word = Le mot « { $word } » (mot n° { $place }) ne fait pas partie de notre liste de mots. Vérifiez son orthographe et réessayez.
login-word-count = Un code compte { $words } mots. Vérifiez qu'il n'en manque aucun et qu'ils sont bien séparés par des espaces.

inbox-title = Nos réponses
inbox-none = Pas encore de réponse. Revenez dans quelques jours.
inbox-lead = Ces messages vous sont destinés. Supprimez chacun d'eux une fois que vous l'avez lu.
inbox-delete = Supprimer cette réponse
inbox-unreadable = { $count ->
    [one] Une réponse n'a pas pu être lue.
   *[other] { $count } réponses n'ont pas pu être lues.
}

deleted-title = Réponse supprimée
deleted-body = La réponse a été supprimée du serveur. Pour lire vos autres réponses, saisissez à nouveau votre code.
deleted-missing = Cette réponse avait déjà été supprimée.

logout-title = Vous êtes déconnecté·e
logout-lead = Le site ne se souvient plus de cette visite. Votre code reste valable : gardez-le pour revenir.
logout-new-identity = Pour ne laisser aucune trace dans le navigateur, choisissez maintenant « Nouvelle identité » dans le menu de Tor Browser.
logout-close = Puis fermez le navigateur.

error-not-found-title = Page introuvable
error-not-found-body = Cette page n'existe pas.
error-method-title = Action non autorisée
error-method-body = Cette page ne peut pas être utilisée ainsi.
error-session-title = Votre session a pris fin
error-session-body = Pour votre sécurité, les sessions expirent au bout d'un moment. Rien n'a été envoyé. Recommencez, ou saisissez votre code.
error-csrf-title = Ce formulaire a expiré
error-csrf-body = Rien n’a été envoyé. Veuillez réessayer.
error-form-title = Le formulaire n'a pas pu être lu
error-form-body = Rien n’a été conservé. Veuillez réessayer.
error-rate-title = Trop de tentatives
error-rate-body = Trop de codes ont été essayés en peu de temps. Attendez une minute, puis réessayez.
error-busy-title = Serveur occupé
error-busy = Le serveur est occupé. Attendez un instant, puis réessayez.
error-internal-title = Un problème est survenu
error-internal-body = Rien n'a été conservé. Réessayez plus tard.
error-too-large-title = Trop volumineux
error-too-large-body = Les fichiers dépassent la taille acceptée : un envoi peut faire jusqu’à { $size } au total. Rien n’a été conservé. Envoyez moins de fichiers, ou des fichiers plus petits, en plusieurs fois si besoin.
error-too-many-title = Trop de fichiers
error-too-many-body = Un envoi peut contenir jusqu’à { $files } fichiers. Rien n’a été conservé. Envoyez-les en plusieurs fois.
error-message-title = Message trop long
error-message-body = Le message est trop long, ou n’est pas du texte brut : il peut compter jusqu’à { $chars } caractères. Rien n’a été conservé. Raccourcissez-le, ou envoyez-le sous forme de fichier.
error-empty-title = Rien à envoyer
error-empty-body = Choisissez au moins un fichier ou écrivez un message.
error-disk-title = Le serveur est plein
error-disk-body = Le serveur n'a plus de place pour l'instant. Rien n'a été conservé. Réessayez plus tard.
error-idle-title = La connexion s'est interrompue
error-idle-body = Plus rien n'arrivait depuis trop longtemps : l'envoi a été arrêté et rien n'a été conservé. Réessayez.
error-slow-title = L'envoi était trop lent
error-slow-body = Les fichiers arrivaient trop lentement pour que le serveur continue d'attendre : l'envoi a été arrêté et rien n'a été conservé. Réessayez quand la connexion sera meilleure, ou envoyez moins de fichiers, ou des fichiers plus petits, à la fois.
