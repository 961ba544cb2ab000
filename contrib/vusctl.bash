# bash completion for vusctl (installed as
# share/bash-completion/completions/vusctl). Commands and options as in
# `vusctl --help`; sockets complete as file names, device names from
# `vusctl --control CTL list --json` when --control is given.
_vusctl() {
	local cur prev words cword ctl="" i cmd=""
	_init_completion || return
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-C | --control) ctl=${words[i + 1]}; ((i++)) ;;
		-t | --timeout) ((i++)) ;;
		-*) ;;
		*) [[ -z $cmd ]] && cmd=${words[i]} ;;
		esac
	done
	case $prev in
	-C | --control) _filedir; return ;;
	-t | --timeout | --len | --count) return ;;
	--width) mapfile -t COMPREPLY < <(compgen -W "1 2 4 8" -- "$cur"); return ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "--control --json --timeout --help --version
			--len --width --hex --force --header --watch --count" -- "$cur")
		return
	fi
	if [[ -z $cmd ]]; then
		if [[ -n $ctl ]]; then
			mapfile -t COMPREPLY < <(compgen -W "list types stats log-level add remove
				info config irqs read write reset upgrade" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "info config read write reset irqs" \
				-- "$cur")
		fi
		return
	fi
	if [[ -n $ctl ]]; then
		local names
		names=$(vusctl --control "$ctl" --json list 2>/dev/null |
			grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
		mapfile -t COMPREPLY < <(compgen -W "$names bar0 bar1 bar2 bar3 bar4 bar5 rom config" \
			-- "$cur")
	else
		case $prev in
		read | write | info | config | reset | irqs) _filedir ;;
		*) mapfile -t COMPREPLY < <(compgen -W "bar0 bar1 bar2 bar3 bar4 bar5 rom config vga" \
			-- "$cur") ;;
		esac
	fi
}
complete -F _vusctl vusctl
