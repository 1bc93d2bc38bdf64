# lanterne: English texts of the source pages. Every id here must exist in fr.ftl too.

site-name = Secure drop box
lang-switch = Language
nav-home = Back to the start
nav-form = Back to your form
nav-login = Enter my code
nav-logout = Log out
notice-code-works = Your code has not changed: keep it, you do not need a new one.
footer-no-js = This site works without JavaScript. For your safety, keep Tor Browser on its "Safest" setting.

index-title = Share documents safely
index-lead = You can send us documents and a message here, and come back later to read our answers. You do not need to give your name.
index-what-title = What happens to what you send
index-what-encrypted = Everything you send is encrypted the moment it arrives, before anything is written to disk. This server keeps only encrypted copies and holds no key to open them.
index-what-offline = Only our reviewers can open them, on a computer that is never connected to the internet.
index-what-nothing-kept = We do not keep your IP address, your browser's details, or the exact time of your visit.
index-what-code = You will get a secret code. It is the only way to come back and read our answers.
index-safety-title = Before you start
index-safety-tor = Use Tor Browser, set to "Safest" (shield icon, then Settings).
index-safety-device = Use a personal device, never one from your work.
index-safety-network = Do not use your workplace network or Wi-Fi.
index-safety-metadata = Documents can contain hidden details (author name, device, location). Remove them if you can; our reviewers will check too.
index-start = Get a code and send documents
index-returning = I already have a code
index-back-to-form = You are using your code: back to your form

code-title = Your secret code
code-lead = Write this code down now, on paper, and keep it somewhere safe:
code-write-down = You need it to read our answers or send more documents.
code-shown-once = It will not be shown again. Do not save it on a work device.
code-no-recovery = Nobody, not even us, can recover it for you.

submit-title = Send documents or a message
submit-more-title = Send more
submit-lead = Choose files, write a message, or both.
submit-read-replies = Read our answers (you will need your code)
form-files-label = Documents
form-files-hint = Up to { $files } files.
form-size-hint = Up to { $size } in total.
form-message-label = Message
form-either-hint = Tell us what the documents are and why they matter. Slow connections are fine: keep this page open until you see the confirmation.
form-send = Send

submitted-title = Received, thank you
submitted-body = { $files ->
    [0] Your message arrived safely and was encrypted.
    [one] Your file arrived safely and was encrypted.
   *[other] Your { $files } files arrived safely and were encrypted.
}
submitted-body-with-message = { $files ->
    [0] Your message arrived safely and was encrypted.
    [one] Your file and your message arrived safely and were encrypted.
   *[other] Your { $files } files and your message arrived safely and were encrypted.
}
submitted-come-back = Come back in a few days with your code to read our answer.
submitted-logout = When you are done, log out and use Tor Browser's "New Identity".
submitted-more = Send something else

login-title = Come back with your code
login-code-label = Your code
login-code-hint = Type the words with spaces between them. Capital letters and accents do not matter.
login-send = Continue
login-new = I don't have a code yet
login-failed = That did not work. Check your code and try again.
login-unknown-word = The word “{ $word }” (word { $place }) is not in our list of words. Check how it is spelled and try again.
login-word-count = A code has { $words } words. Check that none is missing and that there is a space between each of them.

inbox-title = Our answers
inbox-none = There is no answer yet. Please come back in a few days.
inbox-lead = These messages are for you. Delete each one once you have read it.
inbox-delete = Delete this answer
inbox-unreadable = { $count ->
    [one] One answer could not be read.
   *[other] { $count } answers could not be read.
}

deleted-title = Answer deleted
deleted-body = The answer was deleted from the server. To read your other answers, enter your code again.
deleted-missing = That answer was already deleted.

logout-title = You are logged out
logout-lead = This site no longer remembers this visit. Your code still works: keep it safe to come back.
logout-new-identity = To leave no trace in the browser, choose "New Identity" in Tor Browser's menu now.
logout-close = Then close the browser.

error-not-found-title = Page not found
error-not-found-body = This page does not exist.
error-method-title = Not allowed
error-method-body = This page cannot be used that way.
error-session-title = Your session has ended
error-session-body = For your safety, sessions end after a while. Nothing was sent. Start again, or enter your code.
error-csrf-title = This form has expired
error-csrf-body = Nothing was sent. Please try again.
error-form-title = The form could not be read
error-form-body = Nothing was kept. Please try again.
error-rate-title = Too many attempts
error-rate-body = Too many codes were tried in a short time. Wait a minute, then try again.
error-busy-title = Busy
error-busy = The server is busy. Wait a moment, then try again.
error-internal-title = Something went wrong
error-internal-body = Nothing was kept. Please try again later.
error-too-large-title = Too large
error-too-large-body = The files are larger than this drop box accepts: a submission can hold up to { $size } in total. Nothing was kept. Send fewer or smaller files, in several parts if needed.
error-too-many-title = Too many files
error-too-many-body = A submission can hold up to { $files } files. Nothing was kept. Send them in several parts.
error-message-title = Message too long
error-message-body = The message is too long, or not plain text: a message can hold up to { $chars } characters. Nothing was kept. Shorten it, or send it as a file.
error-empty-title = Nothing to send
error-empty-body = Choose at least one file or write a message.
error-disk-title = The server is full
error-disk-body = The server has no room left right now. Nothing was kept. Please try again later.
error-idle-title = The connection stopped
error-idle-body = Nothing arrived for too long, so the upload was stopped and nothing was kept. Please try again.
error-slow-title = The upload was too slow
error-slow-body = The files arrived too slowly for the server to keep waiting, so the upload was stopped and nothing was kept. Please try again when the connection is better, or send fewer or smaller files at a time.
