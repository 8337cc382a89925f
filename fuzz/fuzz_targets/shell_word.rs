//! Fuzz target: BuildKit word expansion (`kiln-shell`) on arbitrary words and escape tokens.
#![no_main]

use kiln_shell::{Env, Lex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(word) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lex = Lex::new(if first & 1 == 0 { '\\' } else { '`' });
    lex.raw_quotes = first & 2 != 0;
    lex.skip_unset_env = first & 4 != 0;
    lex.raw_escapes = first & 8 != 0;
    let env = Env::from_list(["PWD=/home", "EMPTY=", "SPACE=a b  c", "X=x*y?z"]);
    let _ = lex.process_word(word, &env);
    let _ = lex.process_words(word, &env);
    let _ = lex.process_word_with_matches(word, &env);
});
